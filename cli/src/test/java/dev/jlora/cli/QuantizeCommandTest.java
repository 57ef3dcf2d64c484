package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.loaders.gguf.GgufFile;
import dev.jlora.loaders.gguf.GgufReader;
import dev.jlora.quant.QuantType;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class QuantizeCommandTest {

    @Test
    void quantizesStories260KToQ8_0(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("s-q8.gguf");
        var r = CliRun.of("quantize", CliRun.models().resolve("stories260K.gguf").toString(), "--to", "q8_0", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("wrote " + out), r.out());
        try (GgufFile f = GgufReader.open(out)) {
            assertEquals(QuantType.Q8_0, f.tensor("blk.0.attn_q.weight").type());
            assertEquals(QuantType.F16, f.tensor("blk.0.ffn_down.weight").type()); // 172-element rows
            assertEquals(QuantType.F32, f.tensor("token_embd.weight").type());
            assertEquals(QuantType.F32, f.tensor("blk.0.attn_norm.weight").type());
            assertEquals(48, f.tensors().size());
        }
        assertTrue(Files.size(out) < Files.size(CliRun.models().resolve("stories260K.gguf")));
    }

    @Test
    void badTypeIsOneLineError(@TempDir Path dir) {
        var r = CliRun.of("quantize", CliRun.models().resolve("stories260K.gguf").toString(), "--to", "q3",
                dir.resolve("x.gguf").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("jlora quantize: unknown quant type 'q3'"), r.err());
        r = CliRun.of("quantize", CliRun.models().resolve("stories260K.gguf").toString(), "--to", "nf4",
                dir.resolve("x.gguf").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("NF4 cannot be stored in GGUF"), r.err());
    }
}
