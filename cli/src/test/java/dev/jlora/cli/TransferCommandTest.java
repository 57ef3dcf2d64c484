package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code jlora transfer} with stories260K as both bases (the mechanics): a random non-zero LoRA on the source makes
 * the teacher differ from the base, so the new adapter must learn that difference from the filtered synthetic data.
 */
class TransferCommandTest {
    @TempDir
    static Path tmp;

    @Test
    void transferredAdapterReducesTheHeldOutDistillationLoss() throws Exception {
        Path gguf = CliRun.models().resolve("stories260K.gguf");
        LlamaModel model = ModelLoader.load(gguf);
        var set = MergeAdaptersCommandTest.randomLora(model, 4, 16f, EnumSet.of(Target.Q, Target.V, Target.DOWN), 7);
        Path adapter = tmp.resolve("source.jlora");
        AdapterFiles.save(adapter, AdapterFiles.Format.JLORA, set, model.config(), "stories260K");
        Path seeds = tmp.resolve("seeds.jsonl");
        Files.writeString(seeds, """
                {"text": "Once upon a time, there was a little girl named Lily."}
                {"text": "One day, Tom went to the park with his mom."}
                {"text": "The cat saw a big red ball under the tree."}
                {"prompt": "Sam had a toy car.", "completion": " He loved it very much."}
                {"text": "The sun was warm and the birds were singing."}
                {"text": "Mia found a shiny stone by the river."}
                """);
        Path out = tmp.resolve("out");
        var run = CliRun.of("transfer", "--source-model", gguf.toString(), "--adapter", adapter.toString(),
                "--target-model", gguf.toString(), "--seed-data", seeds.toString(), "--out", out.toString(),
                "--keep", "12", "--synthetic-per-round", "12", "--rounds", "1", "--max-prompt-tokens", "16",
                "--max-completion-tokens", "16", "--steps", "20", "--discriminator-steps", "15", "--seq-len", "48", "--batch-size", "2",
                "--lr", "5e-3", "--targets", "q,v,down");
        assertEquals(0, run.code(), run.err() + run.out());
        var m = Pattern.compile("held-out distillation loss on \\S+: ([0-9.]+) before, ([0-9.]+) after").matcher(run.out());
        assertTrue(m.find(), run.out());
        double before = Double.parseDouble(m.group(1)), after = Double.parseDouble(m.group(2));
        assertTrue(after < before, run.out());
        var transferred = AdapterFiles.load(out.resolve("adapter.jlora"), model);
        assertEquals(EnumSet.of(Target.Q, Target.V, Target.DOWN), transferred.targets());
        long lines = Files.readAllLines(out.resolve("synthetic.jsonl")).size();
        assertTrue(lines >= 2 && lines <= 12, "kept samples: " + lines);
    }
}
