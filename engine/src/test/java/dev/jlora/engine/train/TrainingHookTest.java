package dev.jlora.engine.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.ref.TinyTraining;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingHookTest {
    @TempDir
    Path dir;

    /**
     * Records the order of its callbacks, freezes every parameter of layer 1, owns one trainable scalar pulled to 3
     * by a quadratic regulariser, and counts its steps in checkpointed state.
     */
    static final class Probe implements TrainingHook {
        final List<String> calls = new ArrayList<>();
        final Parameter pull = Parameter.zeros("pull", 1);
        final float[] counter = new float[1];
        String lastMeta = "";

        @Override public String name() { return "probe"; }
        @Override public List<Parameter> parameters() { return List.of(pull); }
        @Override public void beforeStep(int step, int total) { calls.add("beforeStep " + step + "/" + total); }
        @Override public void beforeForward(LlamaTrainGraph g, int[] inputs, boolean training) {
            calls.add(training ? "forward" : "evalForward");
        }
        @Override public void afterMicroBatch(LlamaTrainGraph g, int[] inputs, float scale) { calls.add("micro " + scale); }
        @Override public double afterBackward(int step) {
            double d = pull.value()[0] - 3;              // loss ½(p − 3)², gradient p − 3
            pull.grad()[0] += (float) d;
            calls.add("afterBackward");
            return 0.5 * d * d;
        }
        @Override public boolean isActive(Parameter p) { return !p.name().startsWith("layers.1."); }
        @Override public void adjustGradients(int step, float lr, List<Parameter> active) {
            calls.add("adjust " + active.stream().anyMatch(p -> p.name().startsWith("layers.1.")));
        }
        @Override public void afterStep(int step) {
            counter[0]++;
            calls.add("afterStep");
        }
        @Override public Map<String, Object> metrics() { return Map.of("probe_pull", (double) pull.value()[0]); }
        @Override public Map<String, float[]> state() { return Map.of("counter", counter); }
        @Override public Map<String, String> meta() { return Map.of("note", "n" + (int) counter[0]); }
        @Override public void load(Map<String, float[]> state, Map<String, String> meta) {
            counter[0] = state.get("counter")[0];
            lastMeta = meta.get("note");
        }
    }

    @Test
    void callbacksRunInOrderFreezeInactiveParametersAndSurviveResume() throws IOException {
        var m = TinyTraining.model();
        var cfg = TinyTraining.config().steps(2).evalEvery(2).maxEvalBatches(1).build();
        var adapters = TrainableAdapterSet.lora(m.weights(), TinyTraining.LORA, 11);
        for (Parameter p : adapters.parameters()) {
            java.util.Arrays.fill(p.value(), 0.01f);   // B ≠ 0 so that every tensor gets a gradient
        }
        var frozenBefore = adapters.parameters().stream().filter(p -> p.name().startsWith("layers.1."))
                .map(p -> p.value().clone()).toList();
        var probe = new Probe();
        var trainer = new Trainer(m, adapters, TinyTraining.data(cfg.seqLen()), cfg, dir, List.of(probe));
        trainer.train(null);

        assertEquals(List.of("beforeStep 0/2", "forward", "micro 0.5", "forward", "micro 0.5", "afterBackward",
                "adjust false", "afterStep", "beforeStep 1/2", "forward", "micro 0.5", "forward", "micro 0.5",
                "afterBackward", "adjust false", "afterStep", "evalForward"), probe.calls);
        var frozenAfter = adapters.parameters().stream().filter(p -> p.name().startsWith("layers.1."))
                .map(Parameter::value).toList();
        for (int i = 0; i < frozenBefore.size(); i++) {
            assertArrayEquals(frozenBefore.get(i), frozenAfter.get(i), "inactive parameters keep their values");
        }
        assertTrue(probe.pull.value()[0] > 0, "the hook's own parameter is trained: " + probe.pull.value()[0]);
        String firstLine = Files.readAllLines(dir.resolve("metrics.jsonl")).getFirst();
        assertTrue(Json.parseObject(firstLine, Json.Limits.DEFAULT, "metrics").containsKey("probe_pull"), firstLine);

        var resumed = new Probe();
        var again = new Trainer(m, TrainableAdapterSet.lora(m.weights(), TinyTraining.LORA, 11),
                TinyTraining.data(cfg.seqLen()), cfg, dir, List.of(resumed));
        again.resume(Trainer.latestCheckpoint(dir));
        assertEquals(2f, resumed.counter[0], "checkpointed hook state");
        assertEquals("n2", resumed.lastMeta, "checkpointed hook meta");
        assertEquals(probe.pull.value()[0], resumed.pull.value()[0], "checkpointed hook parameter");
    }
}
