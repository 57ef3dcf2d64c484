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
        var r = train(out, "--init", "eva", "--method-arg", "init_batches=3", "--method-arg", "tau=0.9",
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

    @Test
    void loraSbTrainsOnlyRAndMerges() throws Exception {
        Path out = dir.resolve("sb");
        var r = train(out, "--method", "lorasb", "--method-arg", "init_batches=2");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("step     2/2"), r.out());
        var model = ModelLoader.load(ModelFiles.resolve("demo"));
        var saved = AdapterFile.load(out.resolve("adapter.jlora"), model.weights());
        assertEquals("lorasb", saved.get(0, Target.Q).method());
        assertEquals(16L * model.config().nLayers() * 3, saved.parameterCount(), "r² = 16 per adapted layer");
        assertEquals("2.0E-4", saved.get(0, Target.Q).config().get("init_lr"), "the init used --lr");
        var merged = TrainCommandTest.run("merge", "demo", "--adapter", out.toString(), "--out",
                dir.resolve("merged.gguf").toString());
        assertEquals(0, merged.code(), merged.err());
    }

    /**
     * Fed-SB on stories260K: 2 clients × 3 rounds × 2 local steps lower the loss of the aggregated model on the
     * training rows (the mean next-token loss over all of them, before and after).
     */
    @Test
    void fedSbLowersTheLossOfTheAggregatedModel() throws Exception {
        var model = ModelLoader.load(ModelFiles.resolve("demo"));
        var ds = dev.jlora.engine.data.Dataset.load(data(), model.tokenizer(), 24, 0, 1);
        var targets = dev.jlora.engine.adapter.LoraConfig.parseTargets("q,v,down");
        var set = dev.jlora.engine.adapter.AdapterMethods.create("lorasb", "kaiming", java.util.Map.of("rank", "4",
                "init_lr", "1e-3", "init_batches", "2"), model.weights(), targets, 1, null,
                new dev.jlora.engine.train.InitBatches(model, ds, 2, 1)).adapters();
        double before = meanLoss(model, set, ds);
        var cfg = dev.jlora.engine.train.TrainConfig.builder().steps(2).batchSize(1).seqLen(24).lr(1e-2f)
                .evalEvery(1000).seed(3).build();
        var rounds = dev.jlora.engine.train.FedSb.train(model, set, dev.jlora.engine.train.FedSb.shards(ds, 2), cfg, 3,
                dir.resolve("fed"), null);
        double after = meanLoss(model, set, ds);
        assertTrue(after < before - 0.01, "Fed-SB lowered the loss: " + before + " → " + after + ", rounds "
                + rounds.stream().map(x -> x.meanLoss()).toList());

        Path out = dir.resolve("fedcli");
        var r = train(out, "--method", "lorasb", "--method-arg", "init_batches=1", "--federated-clients", "2",
                "--federated-rounds", "2");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("Fed-SB: 2 clients") && r.out().contains("round 2/2"), r.out());
        var meta = AdapterFile.readMeta(out.resolve("adapter.jlora"));
        assertEquals("2", meta.get("federated_clients"));
        var bad = train(dir.resolve("bad"), "--federated-clients", "2");
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("needs --method lorasb"), bad.err());
    }

    static double meanLoss(dev.jlora.engine.model.LlamaModel m, dev.jlora.engine.adapter.AdapterSet a,
                           dev.jlora.engine.data.Dataset ds) {
        var graph = new dev.jlora.engine.train.LlamaTrainGraph(m.config(), m.weights(), a, 1, ds.T(), false);
        double sum = 0;
        int n = 0;
        for (var row : ds.train()) {
            int T = ds.T();
            int[] in = java.util.Arrays.copyOf(row.tokens(), T), tg = new int[T];
            for (int t = 0; t < T; t++) {
                tg[t] = row.loss()[t + 1] ? row.tokens()[t + 1] : -100;
            }
            var l = graph.loss(in, tg);
            sum += l.loss() * l.tokens();
            n += l.tokens();
        }
        return sum / n;
    }
}
