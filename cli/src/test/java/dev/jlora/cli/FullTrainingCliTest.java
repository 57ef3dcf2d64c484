package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.train.AdapterFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** jlora train --method full --train-base … on the demo model, then jlora merge applies everything that was trained. */
class FullTrainingCliTest {
    @TempDir
    Path dir;

    static Path data(Path dir) throws Exception {
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, """
                {"text": "Once upon a time, there was a cat named Tom. Tom liked milk."}
                {"text": "One day, Tom saw a bird. The bird sang a song."}
                """);
        return data;
    }

    @Test
    void fullWeightsAndBaseTensorsAreSavedAndMerged() throws Exception {
        Path out = dir.resolve("out");
        var r = CliRun.of("train", "demo", "--data", data(dir).toString(), "--out", out.toString(), "--steps", "1",
                "--seq-len", "16", "--batch-size", "1", "--targets", "q,down", "--eval-fraction", "0", "--lr", "1e-2",
                "--method", "full", "--train-base", "embed,norms,head");
        assertEquals(0, r.code(), r.err());
        var meta = AdapterFile.readMeta(out.resolve("adapter.jlora"));
        assertEquals("full", meta.get("method"));
        assertEquals("embed,norms,head", meta.get(AdapterFile.TRAIN_BASE_KEY));

        var merge = CliRun.of("merge", "demo", "--adapter", out.resolve("adapter.jlora").toString(), "--out",
                dir.resolve("merged.gguf").toString(), "--to", "f32");
        assertEquals(0, merge.code(), merge.err());
        Matcher m = Pattern.compile("delta:\\s+([-+0-9.]+) nats").matcher(merge.out());
        assertTrue(m.find(), merge.out());
        // merged fp32 weights vs the unmerged full adapter over the same base tensors: float rounding only
        assertEquals(0, Double.parseDouble(m.group(1)), 1e-5, merge.out());

        var pe = CliRun.of("train", "demo", "--data", data(dir).toString(), "--out", dir.resolve("o2").toString(),
                "--steps", "1", "--seq-len", "16", "--method", "full", "--train-base", "head", "--export", "peft");
        assertEquals(1, pe.code());
        assertTrue(pe.err().contains("--export peft cannot hold the base tensors"), pe.err());
    }

    @Test
    void lisaTrainsSampledLayersAndLogsThem() throws Exception {
        Path out = dir.resolve("lisa");
        var r = CliRun.of("train", "demo", "--data", data(dir).toString(), "--out", out.toString(), "--steps", "3",
                "--seq-len", "16", "--batch-size", "1", "--targets", "all-linear", "--eval-fraction", "0",
                "--method", "full", "--train-base", "embed,head", "--dynamics", "lisa",
                "--dynamics-arg", "lisa_activated_layers=2", "--dynamics-arg", "lisa_interval_steps=2");
        assertEquals(0, r.code(), r.err());
        var lines = Files.readAllLines(out.resolve("metrics.jsonl"));
        assertTrue(lines.getFirst().contains("\"lisa_layers\":["), lines.getFirst());

        var bad = CliRun.of("train", "demo", "--data", data(dir).toString(), "--out", dir.resolve("bad").toString(),
                "--steps", "1", "--seq-len", "16", "--dynamics", "lisa");
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("--method full"), bad.err());
    }
}
