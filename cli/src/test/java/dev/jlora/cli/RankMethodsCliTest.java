package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.RankMaskedAdapter;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.adapter.PeftAdapter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** jlora train with the rank-adaptive methods on the demo model: the hook comes with --method, ranks are logged and saved. */
class RankMethodsCliTest {
    @TempDir
    Path dir;

    Path data() throws Exception {
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, """
                {"text": "Once upon a time, there was a cat named Tom. Tom liked milk."}
                {"text": "One day, Tom saw a bird. The bird sang a song."}
                """);
        return data;
    }

    /** The train lines of DIR/metrics.jsonl. */
    static List<Map<String, Object>> trainLines(Path out) throws Exception {
        var lines = new java.util.ArrayList<Map<String, Object>>();
        for (String l : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            var m = Json.parseObject(l, Json.Limits.DEFAULT, "metrics");
            if ("train".equals(m.get("kind"))) {
                lines.add(m);
            }
        }
        return lines;
    }

    @Test
    void adaloraPrunesToTheTargetAndExportsTheSurvivingRanksToPeft() throws Exception {
        Path out = dir.resolve("ada");
        var r = TrainCommandTest.run("train", "demo", "--data", data().toString(), "--out", out.toString(),
                "--steps", "4", "--seq-len", "16", "--batch-size", "1", "--rank", "4", "--targets", "q,v",
                "--eval-fraction", "0", "--method", "adalora", "--method-arg", "target_r=2",
                "--method-arg", "tfinal=1", "--export", "peft");
        assertEquals(0, r.code(), r.err());
        var lines = trainLines(out);
        var model = ModelLoader.load(ModelFiles.resolve("demo"));
        int modules = 2 * model.config().nLayers();
        assertEquals(4L * modules, ((Number) lines.getFirst().get("total_rank")).longValue(), "step 0: init budget");
        assertEquals(2L * modules, ((Number) lines.getLast().get("total_rank")).longValue(), "final phase: target");

        var saved = AdapterFile.load(out.resolve("adapter.jlora"), model.weights());
        int savedRank = 0;
        for (TrainableAdapter a : saved.adapters()) {
            assertEquals("adalora", a.method());
            savedRank += ((RankMaskedAdapter) a).activeRank();
        }
        assertEquals(2 * modules, savedRank, "the saved rank pattern");
        var peft = PeftAdapter.read(out.resolve("adapter-peft"), model, w -> {});
        int peftRank = 0;
        for (TrainableAdapter a : peft.adapters()) {
            peftRank += Integer.parseInt(a.config().get("rank"));
        }
        assertEquals(2 * modules, peftRank, "PEFT export keeps the surviving ranks");
    }
}
