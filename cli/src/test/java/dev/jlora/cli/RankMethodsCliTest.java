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

    @Test
    void dyloraEvaluatesEveryTruncatedRankAndRankRIsTheFullAdapter() throws Exception {
        Path out = dir.resolve("dy");
        Path data = data();
        var r = TrainCommandTest.run("train", "demo", "--data", data.toString(), "--out", out.toString(),
                "--steps", "3", "--seq-len", "16", "--batch-size", "1", "--rank", "4", "--targets", "q,v",
                "--eval-fraction", "0", "--method", "dylora", "--lr", "1e-2");
        assertEquals(0, r.code(), r.err());
        assertTrue(trainLines(out).getFirst().containsKey("dylora_rank"));
        String adapter = out.resolve("adapter.jlora").toString();
        var full = TrainCommandTest.run("eval", "demo", "--data", data.toString(), "--adapter", adapter, "--json");
        var table = TrainCommandTest.run("eval", "demo", "--data", data.toString(), "--adapter", adapter,
                "--rank", "1,2,3,4", "--json");
        assertEquals(0, table.code(), table.err());
        var lines = table.out().strip().split("\n");
        assertEquals(4, lines.length, table.out());
        var fullJson = Json.parseObject(full.out().strip(), Json.Limits.DEFAULT, "eval");
        var rank4 = Json.parseObject(lines[3], Json.Limits.DEFAULT, "eval");
        assertEquals(4L, ((Number) rank4.get("rank")).longValue());
        // Same adapter and masks; two eval runs in one JVM may differ in the last bits (SIMD sums across JIT tiers):
        // 1e-6 relative.
        double want = ((Number) fullJson.get("mean_nll")).doubleValue();
        assertEquals(want, ((Number) rank4.get("mean_nll")).doubleValue(), 1e-6 * want, "rank r = the full adapter");
        var text = TrainCommandTest.run("eval", "demo", "--data", data.toString(), "--adapter", adapter,
                "--rank", "1,4");
        assertTrue(text.out().contains("rank      mean NLL    perplexity"), text.out());
        var bad = TrainCommandTest.run("eval", "demo", "--data", data.toString(), "--rank", "2");
        assertTrue(bad.code() != 0 && bad.err().contains("--rank needs a DyLoRA adapter"), bad.err());
    }

    @Test
    void increloraAndCodyraLogTheirRanksAndSaveLoadableAdapters() throws Exception {
        var model = ModelLoader.load(ModelFiles.resolve("demo"));
        for (var method : List.of("increlora", "codyra")) {
            Path out = dir.resolve(method);
            var r = TrainCommandTest.run("train", "demo", "--data", data().toString(), "--out", out.toString(),
                    "--steps", "2", "--seq-len", "16", "--batch-size", "1", "--rank", "4", "--targets", "q,v",
                    "--eval-fraction", "0", "--method", method, "--export", "gguf");
            assertEquals(0, r.code(), method + ": " + r.err());
            assertTrue(trainLines(out).getLast().containsKey("total_rank"), method);
            var saved = AdapterFile.load(out.resolve("adapter.jlora"), model.weights());
            assertEquals(method, saved.adapters().getFirst().method());
            assertTrue(Files.size(out.resolve("adapter.gguf")) > 0, method + ": GGUF export");
        }
    }
}
