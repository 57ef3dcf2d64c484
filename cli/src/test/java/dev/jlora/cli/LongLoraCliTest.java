package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.model.LlamaConfig.RopeScaling;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.loaders.ModelLoader;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LongLoRA from the command line (Chen et al. 2023): S²-Attn in training, trainable embedding and norms, context
 * extended by position interpolation; the adapter then generates with full attention and the extended context.
 */
class LongLoraCliTest {
    @TempDir
    Path dir;

    @Test
    void trainsWithShiftedSparseAttentionAndExtendedContextThenGenerates() throws Exception {
        Path out = dir.resolve("long");
        var r = CliRun.of("train", "demo", "--data", FullTrainingCliTest.data(dir).toString(), "--out", out.toString(),
                "--steps", "2", "--seq-len", "32", "--batch-size", "1", "--s2-attn-group", "8", "--rope-scale", "2",
                "--train-base", "embed,norms", "--eval-fraction", "0", "--no-plot");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("S²-Attn in training: groups of 8 tokens"), r.out());
        assertTrue(r.out().contains("step     2/2"), r.out());

        var meta = AdapterFile.readMeta(out.resolve("adapter.jlora"));
        assertEquals("2.0", meta.get(AdapterFile.ROPE_SCALE_KEY));
        assertEquals("embed,norms", meta.get(AdapterFile.TRAIN_BASE_KEY));
        var base = ModelLoader.load(ModelFiles.resolve("demo"));
        var extended = ModelFiles.withContextExtension(base, out).config();
        assertEquals(new RopeScaling(RopeScaling.Type.LINEAR, 2f, 0, 0f, 0f), extended.ropeScaling());
        assertEquals(2 * base.config().contextLength(), extended.contextLength());

        var g = CliRun.of("generate", "demo", "--adapter", out.toString(), "--prompt", "Once upon a time",
                "--max-tokens", "8", "--temperature", "0");
        assertEquals(0, g.code(), g.err());
        assertTrue(g.out().startsWith("Once upon a time") && g.out().length() > "Once upon a time".length(), g.out());

        // serve runs each request's attention with its own RoPE: the adapter's requests get the extension
        Path served = java.nio.file.Files.createDirectories(dir.resolve("served"));
        java.nio.file.Files.copy(out.resolve("adapter.jlora"), served.resolve("long.jlora"));
        var registry = ServeCommand.registry(served, base, 2, 1L << 30);
        assertEquals(2f, registry.lookup("long.jlora").ropeScale());
    }

    @Test
    void groupThatDoesNotDivideTheSequenceIsAClearError() throws Exception {
        var r = CliRun.of("train", "demo", "--data", FullTrainingCliTest.data(dir).toString(), "--out",
                dir.resolve("bad").toString(), "--steps", "1", "--seq-len", "32", "--s2-attn-group", "12", "--no-plot");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("group size 12 must divide the sequence length 32"), r.err());
        r = CliRun.of("train", "demo", "--data", FullTrainingCliTest.data(dir).toString(), "--out",
                dir.resolve("bad").toString(), "--steps", "1", "--rope-scale", "0.5", "--no-plot");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("factor must be a finite number ≥ 1, got 0.5"), r.err());
    }
}
