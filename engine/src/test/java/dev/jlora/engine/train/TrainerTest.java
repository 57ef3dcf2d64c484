package dev.jlora.engine.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.data.Example;
import dev.jlora.engine.data.JsonlDataset;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.ref.ByteTokenizer;
import dev.jlora.engine.ref.TinyTraining;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainerTest {
    @TempDir
    Path dir;

    static final ByteTokenizer TOK = TinyTraining.TOK;
    static final LoraConfig LORA = TinyTraining.LORA;

    static LlamaModel model() {
        return TinyTraining.model();
    }

    static Dataset data(int T) throws ModelFormatException {
        return TinyTraining.data(T);
    }

    static TrainConfig.Builder config() {
        return TinyTraining.config();
    }

    Trainer trainer(LlamaModel m, Path out, TrainConfig cfg) throws IOException {
        var ad = TrainableAdapterSet.lora(m.weights(), LORA, 11);
        return new Trainer(m, ad, data(cfg.seqLen()), cfg, out);
    }

    @Test
    void resumedRunGivesIdenticalLossesAndParameters() throws IOException {
        var m = model();
        var full = trainer(m, dir.resolve("full"), config().bitReproducible(true).build());
        var r = full.train(null);
        assertEquals(6, r.losses().size());

        var first = trainer(m, dir.resolve("split"), config().bitReproducible(true).steps(3).build());
        var r1 = first.train(null);
        Path ck = Trainer.latestCheckpoint(dir.resolve("split"));
        assertNotNull(ck);
        assertTrue(ck.getFileName().toString().equals("checkpoint-000003.jlck"), ck.toString());
        var second = trainer(m, dir.resolve("split"), config().bitReproducible(true).build());   // fresh state
        second.resume(ck);
        assertEquals(3, second.step());
        var r2 = second.train(null);

        var losses = new ArrayList<>(r1.losses());
        losses.addAll(r2.losses());
        assertEquals(r.losses(), losses, "losses of 3 + resume 3 equal those of 6 (bit for bit)");
        List<Parameter> a = full.adapters().parameters(), b = second.adapters().parameters();
        for (int i = 0; i < a.size(); i++) {
            assertArrayEquals(a.get(i).value(), b.get(i).value(), a.get(i).name());
        }
    }

    /** Train-step losses of metrics.jsonl by step; a step logged twice is an error. */
    static Map<Long, Double> trainLosses(Path metrics) throws IOException {
        var out = new java.util.TreeMap<Long, Double>();
        for (String line : Files.readAllLines(metrics)) {
            var o = Json.parseObject(line, Json.Limits.DEFAULT, "metrics");
            if (o.get("kind").equals("train")) {
                long step = ((Number) o.get("step")).longValue();
                assertEquals(null, out.put(step, ((Number) o.get("loss")).doubleValue()), "step " + step + " logged twice");
            }
        }
        return out;
    }

    @Test
    void resumeDropsMetricsLoggedAfterTheCheckpointAndATornLine() throws IOException {
        var m = model();
        var full = trainer(m, dir.resolve("full"), config().bitReproducible(true).build());
        full.train(null);
        Path split = dir.resolve("split");
        // A run killed after logging steps 4 and 5 whose newest checkpoint is step 3, in the middle of a line
        trainer(m, split, config().bitReproducible(true).checkpointEvery(3).steps(5).build()).train(null);
        Files.delete(split.resolve("checkpoints/checkpoint-000005.jlck"));
        Files.writeString(split.resolve("metrics.jsonl"), "{\"kind\":\"train\",\"step\":6,\"lo",
                java.nio.file.StandardOpenOption.APPEND);
        var second = trainer(m, split, config().bitReproducible(true).build());
        second.resume(Trainer.latestCheckpoint(split));
        assertEquals(3, second.step());
        second.train(null);
        assertEquals(trainLosses(dir.resolve("full/metrics.jsonl")), trainLosses(split.resolve("metrics.jsonl")),
                "every step logged once, with the uninterrupted run's loss");
    }

    @Test
    void vectorKernelsResumeToWithinRounding() throws IOException {
        var m = model();
        var r = trainer(m, dir.resolve("full"), config().build()).train(null);
        trainer(m, dir.resolve("split"), config().steps(3).build()).train(null);
        var second = trainer(m, dir.resolve("split"), config().build());
        second.resume(Trainer.latestCheckpoint(dir.resolve("split")));
        var r2 = second.train(null);
        // Vector API lane reductions and exp may differ in the last bits between JIT tiers: 1e-5 relative
        for (int i = 0; i < 3; i++) {
            assertEquals(r.losses().get(3 + i), r2.losses().get(i), 1e-5 * r.losses().get(3 + i), "step " + (4 + i));
        }
    }

    @Test
    void overfitsTwoRows() throws IOException {
        var m = model();
        var ex = List.of(
                JsonlDataset.example(Map.of("text", "the cat sat on the mat"), TOK, "a"),
                JsonlDataset.example(Map.of("text", "a dog ran to the park"), TOK, "b"));
        var data = Dataset.of(ex, TOK, 24, 0, 1);
        var ad = TrainableAdapterSet.lora(m.weights(), new LoraConfig(8, 16f, 0f, false, EnumSet.allOf(Target.class)), 2);
        var cfg = TrainConfig.builder().steps(40).batchSize(2).seqLen(24).lr(2e-2f).schedule(
                dev.jlora.engine.optim.LrSchedule.Kind.CONSTANT).seed(1).build();
        var r = new Trainer(m, ad, data, cfg, dir).train(null);
        // same two rows every step: a working gradient must drive the loss well below its start (≈ ln 263 ≈ 5.6)
        assertTrue(r.losses().getLast() < 0.5 * r.losses().getFirst(), "losses: " + r.losses());
    }

    @Test
    void metricsCheckpointsAndEvaluation() throws IOException {
        var events = new ArrayList<String>();
        var t = trainer(model(), dir, config().checkpointEvery(2).keepCheckpoints(2).build());
        var r = t.train(new TrainListener() {
            @Override
            public void onStep(Step s) {
                assertTrue(s.tokensPerSecond() > 0 && s.etaSeconds() >= 0 && s.totalSteps() == 6);
                events.add("step" + s.step());
            }

            @Override
            public void onEval(int step, double loss, double ppl) {
                assertEquals(Math.exp(loss), ppl, 1e-9);
                events.add("eval" + step);
            }

            @Override
            public void onCheckpoint(int step, Path file) {
                events.add("ck" + step);
            }
        });
        assertEquals(List.of("step1", "step2", "ck2", "step3", "eval3", "step4", "ck4", "step5", "step6", "eval6", "ck6"), events);
        assertTrue(Double.isFinite(r.evalLoss()));
        List<String> lines = Files.readAllLines(dir.resolve("metrics.jsonl"));
        assertEquals(8, lines.size(), "6 train + 2 eval lines");
        var first = Json.parseObject(lines.get(0), Json.Limits.DEFAULT, "metrics");
        assertEquals("train", first.get("kind"));
        assertEquals(1L, first.get("step"));
        assertEquals(r.losses().getFirst(), (Double) first.get("loss"), 0.0);
        try (var s = Files.list(dir.resolve("checkpoints"))) {
            assertEquals(List.of("checkpoint-000004.jlck", "checkpoint-000006.jlck"),
                    s.map(p -> p.getFileName().toString()).sorted().toList(), "keeps the newest 2, no temp files");
        }
    }

    @Test
    void nonFiniteLossSkipsTheStep() throws IOException {
        var m = model();
        var t = trainer(m, dir, config().steps(2).evalEvery(0).build());
        Parameter a = t.adapters().parameters().getFirst();
        a.value()[0] = Float.NaN;   // NaN·0 (B = 0) = NaN in every output of that adapter
        float[][] before = t.adapters().parameters().stream().map(p -> p.value().clone()).toArray(float[][]::new);
        var r = t.train(null);
        assertEquals(2, r.skippedSteps());
        assertTrue(Double.isNaN(r.losses().getFirst()));
        for (int i = 0; i < before.length; i++) {
            assertArrayEquals(before[i], t.adapters().parameters().get(i).value(), "no update on skipped steps");
        }
        assertTrue(Files.readString(dir.resolve("metrics.jsonl")).contains("\"loss\":\"NaN\""));
    }

    @Test
    void repeatedNonFiniteStepsStopTheRunWithTheLastGoodCheckpoint() throws IOException {
        var m = model();
        var t = trainer(m, dir, config().steps(20).evalEvery(0).maxBadSteps(3).build());
        t.adapters().parameters().getFirst().value()[0] = Float.NaN;
        float[][] before = t.adapters().parameters().stream().map(p -> p.value().clone()).toArray(float[][]::new);
        var e = assertThrows(Trainer.DivergedException.class, () -> t.train(null));
        assertTrue(e.getMessage().contains("training stopped at step 3: the last 3 steps had a non-finite loss"),
                e.getMessage());
        assertTrue(e.getMessage().contains("checkpoint-000003.jlck keeps the values of step 0"), e.getMessage());
        var resumed = trainer(m, dir.resolve("unused"), config().steps(20).evalEvery(0).build());
        resumed.resume(Trainer.latestCheckpoint(dir));
        for (int i = 0; i < before.length; i++) {
            assertArrayEquals(before[i], resumed.adapters().parameters().get(i).value(), "checkpoint holds the last good values");
        }
    }

    @Test
    void stopRequestCheckpointsAndReturnsEarly() throws IOException {
        var t = trainer(model(), dir, config().steps(50).build());
        var r = t.train(new TrainListener() {
            @Override
            public void onStep(Step s) {
                if (s.step() == 2) {
                    t.requestStop();
                }
            }
        });
        assertTrue(r.stoppedEarly());
        assertEquals(2, r.step());
        assertEquals("checkpoint-000002.jlck", Trainer.latestCheckpoint(dir).getFileName().toString());
    }

    @Test
    void shutdownHookStopsTheLoopAndWaitsForTheCheckpoint() throws Exception {
        var t = trainer(model(), dir, config().steps(100_000).evalEvery(0).build());
        Thread hook = t.installShutdownHook();
        try {
            var result = new java.util.concurrent.CompletableFuture<Trainer.Result>();
            var started = new java.util.concurrent.CountDownLatch(1);
            Thread loop = new Thread(() -> {
                try {
                    result.complete(t.train(new TrainListener() {
                        @Override
                        public void onStep(Step s) {
                            started.countDown();
                        }
                    }));
                } catch (Throwable e) {
                    result.completeExceptionally(e);
                }
            });
            loop.start();
            started.await();
            hook.start();   // what the JVM does on Ctrl-C / SIGTERM
            hook.join(60_000);
            assertTrue(!hook.isAlive(), "the hook returns once the loop has checkpointed");
            var r = result.get();
            assertTrue(r.stoppedEarly() && r.step() >= 1 && r.step() < 100_000, "stopped at step " + r.step());
            assertEquals(String.format("checkpoint-%06d.jlck", r.step()),
                    Trainer.latestCheckpoint(dir).getFileName().toString(), "checkpoint of the last finished step");
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException | IllegalArgumentException alreadyRun) {
                // a started hook thread can no longer be deregistered on some JDKs; it has finished anyway
            }
        }
    }

    @Test
    void resumeRejectsAMismatchedRun() throws IOException {
        var t = trainer(model(), dir, config().steps(1).build());
        t.train(null);
        var other = trainer(model(), dir.resolve("o"), config().seed(8).build());
        var e = assertThrows(ModelFormatException.class, () -> other.resume(Trainer.latestCheckpoint(dir)));
        assertTrue(e.getMessage().contains("meta.seed") && e.getMessage().contains("checkpoint has 7 but this run has 8"),
                e.getMessage());
    }

    @Test
    void adapterFileRoundTrip() throws IOException {
        var m = model();
        var ad = TrainableAdapterSet.lora(m.weights(), LORA, 3);
        ad.parameters().get(1).value()[5] = 0.25f;
        Path f = dir.resolve("a.jlora");
        AdapterFile.save(f, ad, Map.of("base_model", "tiny"));
        var meta = AdapterFile.readMeta(f);
        assertEquals(LORA, AdapterFile.loraConfig(meta));
        assertEquals("tiny", meta.get("base_model"));
        assertEquals("lora", meta.get("method"));
        var back = AdapterFile.load(f, m.weights());
        for (int i = 0; i < ad.parameters().size(); i++) {
            assertEquals(ad.parameters().get(i).name(), back.parameters().get(i).name());
            assertArrayEquals(ad.parameters().get(i).value(), back.parameters().get(i).value());
        }
        byte[] bytes = Files.readAllBytes(f);
        Files.write(f, java.util.Arrays.copyOf(bytes, bytes.length - 10));
        var e = assertThrows(ModelFormatException.class, () -> AdapterFile.load(f, m.weights()));
        assertTrue(e.getMessage().startsWith("a.jlora: tensor 'layers.1.down_proj.lora_B': data ends at byte"), e.getMessage());
    }
}
