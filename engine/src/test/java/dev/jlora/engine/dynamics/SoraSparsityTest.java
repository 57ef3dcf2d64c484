package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.HyperParams;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** SoRA's proximal gate update (Ding et al. 2023, Eq. (6)) and its λ schedule, through the Trainer. */
class SoraSparsityTest {
    @TempDir
    Path dir;

    @Test
    void softThresholdIsTheProximalOperatorOfTheL1Norm() {
        float[] g = {0.5f, -0.5f, 0.05f, -0.05f, 0f, 0.1f};
        SoraSparsity.softThreshold(g, 0.1f);
        assertArrayEquals(new float[] {0.4f, -0.4f, 0f, 0f, 0f, 0f}, g, 1e-7f, "sign(g)·max(|g| − ξ, 0)");
    }

    @Test
    void gatesTakeTheProximalGradientStepAndPruneRank() throws IOException {
        var m = TinyTraining.model();
        var adapted = AdapterMethods.create("sora", "kaiming", Map.of("rank", "4"), m.weights(),
                TinyTraining.LORA.targets(), 5, null);
        var adapters = adapted.adapters();
        // Plain SGD without momentum, clipping or decay: the step is g − lr·∇g, then soft-thresholding by lr·λ.
        var cfg = TinyTraining.config().steps(1).gradAccum(1).optimizer("sgd").momentum(0).maxGradNorm(0)
                .warmupSteps(0).evalEvery(0).build();
        var data = TinyTraining.data(cfg.seqLen());
        var ctx = new TrainingMethods.Context(m, adapters, data, cfg);
        float lr = cfg.lrSchedule().lr(0);
        double lambda = 0.5 / lr;                      // ξ = lr·λ = 0.5: prunes every gate with |g − lr·∇g| ≤ 0.5
        var hooks = TrainingMethods.forAdapterMethod("sora", Map.of("sparse_lambda", Double.toString(lambda)), ctx);
        assertEquals(1, hooks.size(), "--method sora brings its hook");
        var sora = (SoraSparsity) hooks.get(0);
        int before = sora.activeRank();
        Map<String, float[]> was = new HashMap<>();
        for (Parameter p : adapters.parameters()) {
            was.put(p.name(), p.value().clone());
        }
        new Trainer(m, adapters, data, cfg, dir, hooks).train(null);
        int gates = 0, pruned = 0;
        for (Parameter p : adapters.parameters()) {
            if (!p.name().endsWith("sora_gate")) {
                continue;
            }
            for (int j = 0; j < p.size(); j++) {
                double step = was.get(p.name())[j] - (double) lr * p.grad()[j];
                double want = Math.signum(step) * Math.max(Math.abs(step) - 0.5, 0);
                // float32 SGD step and threshold: two roundings of O(1) values
                assertEquals(want, p.value()[j], 1e-6, p.name() + "[" + j + "]");
                gates++;
                pruned += p.value()[j] == 0 ? 1 : 0;
            }
        }
        assertTrue(pruned > 0 && pruned < gates, "N(0,1) gates: some below 0.5, some above (" + pruned + "/" + gates + ")");
        assertEquals(before - pruned, sora.activeRank());
        String metrics = Files.readString(dir.resolve("metrics.jsonl"));
        assertTrue(metrics.contains("\"sora_active_rank\":" + (before - pruned)), metrics);
    }

    @Test
    void lambdaScheduleFollowsTheAuthorsInterpolations() throws IOException {
        var m = TinyTraining.model();
        var cfg = TinyTraining.config().build();
        var adapters = AdapterMethods.create("sora", "kaiming", Map.of("rank", "2"), m.weights(),
                TinyTraining.LORA.targets(), 5, null).adapters();
        var linear = SoraSparsity.create(new HyperParams("sora", Map.of("sparse_lambda", "1", "lambda_schedule", "linear",
                "max_lambda", "3", "lambda_num", "3")), adapters);
        double[] seen = new double[6];
        for (int s = 0; s < 6; s++) {
            linear.beforeStep(s, 6);
            seen[s] = ((Number) linear.metrics().get("sora_lambda")).doubleValue();
        }
        assertArrayEquals(new double[] {1, 1, 2, 2, 3, 3}, seen, 1e-12, "np.linspace(1, 3, 3) over three stages");
        var exp = SoraSparsity.create(new HyperParams("sora", Map.of("sparse_lambda", "1", "lambda_schedule",
                "exp_linear", "max_lambda", "100", "lambda_num", "3")), adapters);
        exp.beforeStep(3, 6);
        assertEquals(10, ((Number) exp.metrics().get("sora_lambda")).doubleValue(), 1e-9, "geometric midpoint");
        var e = assertThrows(IllegalArgumentException.class, () -> TrainingMethods.forAdapterMethod("sora", Map.of(),
                new TrainingMethods.Context(m, AdapterMethods.create("lora", "kaiming", Map.of(), m.weights(),
                        TinyTraining.LORA.targets(), 5, null).adapters(), TinyTraining.data(cfg.seqLen()), cfg)));
        assertTrue(e.getMessage().contains("sora_gate"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SoraSparsity.create(new HyperParams("sora",
                Map.of("lambda_schedule", "cosine")), adapters));
        assertTrue(e.getMessage().contains("lambda_schedule"), e.getMessage());
        assertEquals(List.of(), TrainingMethods.forAdapterMethod("lora", Map.of(), null));
    }
}
