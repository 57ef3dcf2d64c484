package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.adapter.XLoraModel;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.engine.train.Trainer;
import dev.jlora.simd.testing.Approx;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * X-LoRA end to end on the tiny model: two pre-trained LoRA sets mixed by a scaling head trained through
 * {@link Trainer} with the {@code xlora} hook (scaling pass before each forward, head gradient after each backward).
 * Defining properties: the experts stay bit-identical, only the head moves, the scalings depend on the input, and the
 * saved file rebuilds the model (config + AdapterMethods.loader) for training-graph and generation forwards.
 */
class XLoraTest {
    @TempDir
    Path dir;

    /** A LoRA set with every value random (nonzero B), as a stand-in for a trained task adapter. */
    static TrainableAdapterSet expert(dev.jlora.engine.model.LlamaModel m, int rank, long seed) {
        var cfg = new dev.jlora.engine.adapter.LoraConfig(rank, 2 * rank, 0f, false, TinyTraining.LORA.targets());
        var set = TrainableAdapterSet.lora(m.weights(), cfg, seed);
        var rnd = new SplittableRandom(seed);
        for (Parameter p : set.parameters()) {
            for (int i = 0; i < p.size(); i++) {
                p.value()[i] = (float) ((rnd.nextDouble() * 2 - 1) * 0.3);
            }
        }
        return set;
    }

    @Test
    void trainsOnlyTheHeadWithInputDependentScalingsAndReloads() throws Exception {
        var m = TinyTraining.model();
        var experts = List.of(expert(m, 2, 1), expert(m, 3, 2));
        var xl = AdapterMethods.xlora(m.weights(), TinyTraining.LORA.targets(), experts, 1f, 7);
        var buffersBefore = new HashMap<String, float[]>();
        for (TrainableAdapter a : xl.adapters()) {
            a.buffers().forEach((k, v) -> buffersBefore.put(a.hashCode() + k, v.clone()));
        }
        var headBefore = new HashMap<String, float[]>();
        for (Parameter p : xl.parameters()) {
            headBefore.put(p.name(), p.value().clone());
            assertTrue(p.name().contains("xlora_classifier"), "only the head trains: " + p.name());
        }
        var cfg = TinyTraining.config().build();
        var data = TinyTraining.data(cfg.seqLen());
        var hooks = TrainingMethods.forAdapterMethod("xlora", Map.of(), new TrainingMethods.Context(m, xl, data, cfg));
        var result = new Trainer(m, xl, data, cfg, dir, hooks).train(null);
        assertEquals(cfg.steps(), result.step());
        assertTrue(Double.isFinite(result.evalLoss()), "evaluation ran the scaling pass too");

        for (TrainableAdapter a : xl.adapters()) {
            a.buffers().forEach((k, v) -> assertArrayEquals(buffersBefore.get(a.hashCode() + k), v,
                    "expert tensor " + k + " must stay bit-identical"));
        }
        boolean moved = false;
        for (Parameter p : xl.parameters()) {
            moved |= !java.util.Arrays.equals(headBefore.get(p.name()), p.value());
        }
        assertTrue(moved, "the scaling head trained");
        String metrics = java.nio.file.Files.readString(dir.resolve("metrics.jsonl"));
        assertTrue(metrics.contains("\"xlora_scaling_entropy\"") && metrics.contains("\"xlora_expert_load\""), metrics);
        for (Object line : Json.readLines(dir.resolve("metrics.jsonl"), Json.Limits.DEFAULT)) {
            var row = (Map<?, ?>) line;
            if ("train".equals(row.get("kind"))) {
                double h = ((Number) row.get("xlora_scaling_entropy")).doubleValue();
                assertTrue(h > 0 && h <= Math.log(2) + 1e-9, "scaling entropy over 2 adapters: " + h);
            }
        }

        // scalings depend on the input
        var model = XLoraModel.of(xl, m.config().nLayers());
        var hook = hooks.getFirst();
        int[] a = TinyTraining.TOK.encode("the cat sat", true, false), b = TinyTraining.TOK.encode("two fish!!!", true, false);
        assertEquals(a.length, b.length);
        var graph = new LlamaTrainGraph(m.config(), m.weights(), xl, 1, a.length, false);
        hook.beforeForward(graph, a, false);
        double[][] sa = model.meanScalings();
        hook.beforeForward(graph, b, false);
        double[][] sb = model.meanScalings();
        assertFalse(java.util.Arrays.deepEquals(sa, sb), "different inputs get different scalings");

        // the saved file rebuilds the same X-LoRA model
        Path file = dir.resolve("xlora.jlora");
        AdapterFile.save(file, xl, Map.of());
        var loaded = AdapterFile.load(file, m.weights());
        assertEquals(xl.get(0, Target.Q).config(), loaded.get(0, Target.Q).config());
        hook.beforeForward(graph, a, false);
        float[] want = graph.logits(a);
        var graph2 = new LlamaTrainGraph(m.config(), m.weights(), loaded, 1, a.length, false);
        var hook2 = TrainingMethods.forAdapterMethod("xlora", Map.of(), new TrainingMethods.Context(m, loaded, data, cfg))
                .getFirst();
        hook2.beforeForward(graph2, a, false);
        // 1e-5: the Vector API's lane reductions may change the last bit between JIT tiers
        assertArrayEquals(want, graph2.logits(a), 1e-5f, "reloaded X-LoRA logits");
        // generation runs its own scaling pass (a base session in lockstep): same math, other kernels;
        // 1e-4 abs + 1e-3 rel on O(1) logits
        float[] inf = new InferenceSession(m, loaded, a.length).forwardAllLogits(a);
        Approx.assertClose(want, inf, 1e-4, 1e-3, () -> "x-lora inference vs training graph");
    }
}
