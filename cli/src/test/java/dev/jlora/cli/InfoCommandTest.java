package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InfoCommandTest {
    @Test
    void summarisesStories260K() {
        var r = CliRun.of("info", CliRun.models().resolve("stories260K.gguf").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("architecture:  llama"), r.out());
        assertTrue(r.out().contains("GGUF v3, 1,185,376 bytes"), r.out());
        // 512·64 embedding + 512·64 output + 64 final norm + 5 · (4096 + 2·2048 + 4096 + 3·11008 + 2·64) = 292,800
        assertTrue(r.out().contains("parameters:    292,800"), r.out());
        assertTrue(r.out().contains("weight memory: 1,171,200 bytes"), r.out());
        assertTrue(r.out().contains("tensors (48):"), r.out());
        assertTrue(r.out().matches("(?s).*blk\\.0\\.attn_k\\.weight\\s+F32\\s+32 × 64\\s+8,192\n.*"), r.out());
        assertTrue(r.out().contains("F32 × 48"), r.out());
        assertTrue(r.out().contains("config:        dim 64, hidden 172, layers 5, heads 8, kv heads 4, head dim 8, vocab 512"), r.out());
        assertTrue(r.out().contains("rope theta 10000.0 (interleaved layout, scaling none)"), r.out());
    }

    @Test
    void summarisesAHuggingFaceDirectory(@TempDir Path dir) throws Exception {
        var m = dev.jlora.loaders.ModelLoader.load(CliRun.models().resolve("stories260K.gguf"));
        dev.jlora.loaders.ModelWriter.writeHf(m, dir, dev.jlora.loaders.safetensors.SafetensorsDtype.F32);
        var r = CliRun.of("info", dir.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("(Hugging Face)"), r.out());
        assertTrue(r.out().contains("half-split layout"), r.out());
        assertTrue(r.out().contains("model.layers.0.self_attn.k_proj.weight"), r.out());
        assertTrue(r.out().contains("parameters:    292,800"), r.out());
    }

    @Test
    void demoIsTheShippedStories260K() {
        var r = CliRun.of("info", "demo", "--no-tensors");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("models/stories260K.gguf"), r.out());
        assertTrue(r.out().contains("parameters:    292,800"), r.out());
    }

    @Test
    void badFilesGiveOneLineAndExitCode1(@TempDir Path dir) throws Exception {
        Path junk = Files.writeString(dir.resolve("junk.gguf"), "not a model");
        var r = CliRun.of("info", junk.toString());
        assertEquals(1, r.code());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().startsWith("jlora info: ") && r.err().contains("junk.gguf"), r.err());
        var missing = CliRun.of("info", dir.resolve("missing.gguf").toString());
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains("missing.gguf: no such model file or directory"), missing.err());
    }
}
