package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.RankPattern;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The data-driven initialisations from {@code jlora train} on the demo model: two steps, then the saved adapter loads. */
class InitCliTest {
    @TempDir
    Path dir;

    Path data() throws Exception {
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, """
                {"text": "Once upon a time, there was a cat named Tom. Tom liked milk and fish."}
                {"text": "One day, Tom saw a bird. The bird sang a song in the tall green tree."}
                {"text": "Lily had a red ball. She threw it to her dog, and the dog ran fast."}
                """);
        return data;
    }

    TrainCommandTest.Run train(Path out, String... extra) throws Exception {
        var args = new java.util.ArrayList<>(java.util.List.of("train", "demo", "--data", data().toString(), "--out",
                out.toString(), "--steps", "2", "--seq-len", "24", "--batch-size", "2", "--rank", "4", "--targets",
                "q,v,down", "--eval-fraction", "0"));
        args.addAll(java.util.List.of(extra));
        return TrainCommandTest.run(args.toArray(String[]::new));
    }

    @Test
    void evaRedistributesRanksAndExportsPeftWithARankPattern() throws Exception {
        Path out = dir.resolve("eva");
        var r = train(out, "--init", "eva", "--method-arg", "init_batches=8", "--method-arg", "tau=0.9",
                "--export", "peft");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("init eva from") && r.out().contains("(sum 60)"), r.out());   // 4 × 5 layers × 3
        assertTrue(r.out().contains("step     2/2"), r.out());
        var model = ModelLoader.load(ModelFiles.resolve("demo"));
        var saved = AdapterFile.load(out.resolve("adapter.jlora"), model.weights());
        int sum = 0;
        for (var a : saved.adapters()) {
            sum += Integer.parseInt(a.config().get("rank"));
        }
        assertEquals(4 * model.config().nLayers() * 3, sum, "the saved ranks keep the budget");
        var meta = AdapterFile.readMeta(out.resolve("adapter.jlora"));
        assertEquals("eva", meta.get("init"));
        var peft = AdapterFiles.load(out.resolve("adapter-peft"), model);
        String config = Files.readString(out.resolve("adapter-peft/adapter_config.json"));
        assertTrue(config.contains("\"rank_pattern\""), config);
        for (int l = 0; l < model.config().nLayers(); l++) {
            for (Target t : new Target[] {Target.Q, Target.V, Target.DOWN}) {
                var a = saved.get(l, t);
                var b = peft.get(l, t);
                if (a == null) {
                    assertTrue(meta.get(RankPattern.RANK_KEY).contains(RankPattern.key(l, t) + ":0"), meta.toString());
                    continue;
                }
                assertEquals(a.config().get("rank"), b.config().get("rank"), "PEFT rank of layer " + l + " " + t);
            }
        }
    }

    @Test
    void loraGaTrainsFromTheResidualAndSavesARank2rDeltaOnTheOriginal() throws Exception {
        Path out = dir.resolve("ga");
        var r = train(out, "--init", "lora-ga", "--method-arg", "init_batches=2");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("15 base weights replaced by their residual"), r.out());   // 5 layers × 3 targets
        assertTrue(r.out().contains("step     2/2"), r.out());
        var model = ModelLoader.load(ModelFiles.resolve("demo"));
        var saved = AdapterFile.load(out.resolve("adapter.jlora"), model.weights());
        assertEquals("8", saved.get(0, Target.DOWN).config().get("rank"), "saved as a rank-2r delta on the original");
        var bad = train(dir.resolve("bad"), "--init", "lora-ga", "--method-arg", "rho=2");
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("has no hyper-parameter 'rho'"), bad.err());
    }

    @Test
    void doraWithPissaTrainsOnTheResidualAndSavesARank2rDoraOnTheOriginal() throws Exception {
        Path out = dir.resolve("dora");
        var r = train(out, "--method", "dora", "--init", "pissa");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("step     2/2"), r.out());
        var model = ModelLoader.load(ModelFiles.resolve("demo"));
        var saved = AdapterFile.load(out.resolve("adapter.jlora"), model.weights());
        assertEquals("dora", saved.get(0, Target.Q).method());
        assertEquals("8", saved.get(0, Target.Q).config().get("rank"), "saved as a rank-2r DoRA on the original");
    }
}
