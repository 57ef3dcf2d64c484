package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.io.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Flexora (Wei et al. 2024) from the command line: search stage, selection, fine-tuning, then generation. */
class FlexoraCliTest {
    @TempDir
    Path dir;

    @Test
    void searchesSelectsFineTunesAndTheAdapterGenerates() throws Exception {
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, """
                {"text": "Once upon a time, there was a cat named Tom. Tom liked milk."}
                {"text": "One day, Tom saw a bird. The bird sang a song."}
                {"text": "The bird flew away and Tom was sad."}
                {"text": "Then Tom drank his milk and was happy again."}
                """);
        Path out = dir.resolve("flex");
        var r = CliRun.of("train", "demo", "--data", data.toString(), "--out", out.toString(), "--steps", "3",
                "--seq-len", "16", "--batch-size", "1", "--targets", "q,v", "--dropout", "0", "--lr", "1e-2",
                "--eval-fraction", "0.25", "--no-plot", "--dynamics", "flexora",
                "--dynamics-arg", "flexora_search_steps=2", "--dynamics-arg", "flexora_val_batches=1");
        assertEquals(0, r.code(), r.err());
        var steps = Files.readAllLines(out.resolve("metrics.jsonl")).stream()
                .map(line -> parse(line)).filter(m -> "train".equals(m.get("kind"))).toList();
        assertEquals(3, steps.size());
        for (int s = 0; s < 2; s++) {
            var gates = (List<?>) steps.get(s).get("flexora_gates");
            assertEquals(5, gates.size(), "one gate per layer of stories260K");
            double sum = gates.stream().mapToDouble(g -> ((Number) g).doubleValue()).sum();
            assertEquals(5, sum, 1e-4, "L·softmax(α) sums to L");
        }
        var gates = ((List<?>) steps.get(1).get("flexora_gates")).stream().mapToDouble(g -> ((Number) g).doubleValue())
                .toArray();
        var selected = ((List<?>) steps.get(2).get("flexora_layers")).stream().map(n -> ((Number) n).intValue()).toList();
        for (int l = 0; l < gates.length; l++) {
            assertEquals(gates[l] > 1, selected.contains(l), "layer " + l + " gate " + gates[l] + " vs selection " + selected);
        }

        var g = CliRun.of("generate", "demo", "--adapter", out.toString(), "--prompt", "Once upon a time",
                "--max-tokens", "8", "--temperature", "0");
        assertEquals(0, g.code(), g.err());
        assertTrue(g.out().startsWith("Once upon a time") && g.out().length() > "Once upon a time".length(), g.out());
    }

    private static Map<String, Object> parse(String line) {
        try {
            return Json.parseObject(line, Json.Limits.DEFAULT, "metrics.jsonl");
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }
}
