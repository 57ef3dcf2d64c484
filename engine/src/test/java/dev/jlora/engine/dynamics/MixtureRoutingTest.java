package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.LoraMixture;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.io.Json;
import dev.jlora.simd.testing.Approx;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.engine.train.Trainer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * The mixtures trained end to end through {@link Trainer} with the hook {@code --method NAME} brings: routing
 * statistics in metrics.jsonl, the auxiliary loss reported, SMoRA's bias moving, and the saved file rebuilding the
 * same mixture (config() + AdapterMethods.loader) with bit-identical logits.
 */
class MixtureRoutingTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource(delimiter = ';', value = {
            "loramoe;num_experts=4;4,4;true",
            "mola;experts_per_layer=2,4;2,4;false",
            "mola;experts_per_layer=3;3,3;true",
            "smora;top_k=2;6,6;false",
            "dynmole;num_experts=4;4,4;true",
            "mixlora;num_experts=3;3,3;true"})
    void trainsLogsRoutingAndReloads(String method, String arg, String expertsPerLayer, boolean hasAuxLoss)
            throws Exception {
        var m = TinyTraining.model();
        String[] kv = arg.split("=", 2);
        var args = new java.util.HashMap<String, String>(Map.of("rank", method.equals("smora") ? "6" : "2", kv[0], kv[1]));
        if (method.equals("mola") && hasAuxLoss) {
            args.put("aux_loss_coef", "0.1");
        }
        var adapters = AdapterMethods.create(method, "kaiming", args, m.weights(), TinyTraining.LORA.targets(), 5, null)
                .adapters();
        var cfg = TinyTraining.config().build();
        var data = TinyTraining.data(cfg.seqLen());
        var hooks = TrainingMethods.forAdapterMethod(method, args, new TrainingMethods.Context(m, adapters, data, cfg));
        assertEquals(1, hooks.size(), "--method " + method + " brings its routing hook");
        var result = new Trainer(m, adapters, data, cfg, dir, hooks).train(null);
        assertEquals(cfg.steps(), result.step());

        String[] perLayer = expertsPerLayer.split(",");
        for (Object line : Json.readLines(dir.resolve("metrics.jsonl"), Json.Limits.DEFAULT)) {
            var row = (Map<?, ?>) line;
            if (!"train".equals(row.get("kind"))) {
                continue;
            }
            double entropy = ((Number) row.get("moe_router_entropy")).doubleValue();
            int maxExperts = Integer.parseInt(perLayer[perLayer.length - 1]);
            assertTrue(entropy > 0 && entropy <= Math.log(maxExperts) + 1e-9, "router entropy " + entropy);
            double aux = ((Number) row.get("moe_aux_loss")).doubleValue();
            assertTrue(hasAuxLoss ? aux > 0 : aux == 0, method + " aux loss " + aux);
            var load = (List<?>) row.get("moe_expert_load");
            assertEquals(perLayer.length, load.size(), "one load vector per layer");
            for (int l = 0; l < perLayer.length; l++) {
                var shares = (List<?>) load.get(l);
                assertEquals(Integer.parseInt(perLayer[l]), shares.size(), "experts of layer " + l);
                double sum = 0;
                for (Object s : shares) {
                    sum += ((Number) s).doubleValue();
                }
                assertEquals(1.0, sum, 1e-9, "shares of layer " + l);
            }
            assertTrue(row.containsKey("moe_experts_per_token") && row.containsKey("moe_load_cv"), row.toString());
        }
        if (method.equals("smora")) {
            float[] bias = ((LoraMixture) adapters.get(0, Target.Q)).buffers().get("router.selection_bias");
            double moved = 0;
            for (float b : bias) {
                moved += Math.abs(b);
            }
            assertTrue(moved > 0, "SMoRA's selection bias moved during training");
        }

        Path file = dir.resolve("adapter.jlora");
        AdapterFile.save(file, adapters, Map.of());
        var loaded = AdapterFile.load(file, m.weights());
        assertEquals(adapters.get(1, Target.DOWN).config(), loaded.get(1, Target.DOWN).config());
        int[] tokens = TinyTraining.TOK.encode("the cat sat on a dog", true, false);
        var a = new LlamaTrainGraph(m.config(), m.weights(), adapters, 1, tokens.length, false).logits(tokens);
        var b = new LlamaTrainGraph(m.config(), m.weights(), loaded, 1, tokens.length, false).logits(tokens);
        // Same values in both graphs; the Vector API's lane reductions may differ in the last bit between JIT tiers
        // (two runs of one graph can), so the reload is held to 1e-6 relative, not to bit equality.
        for (int i = 0; i < a.length; i++) {
            assertEquals(a[i], b[i], 1e-6 * Math.max(1, Math.abs(a[i])),
                    "the reloaded " + method + " gives the same logits at " + i);
        }
        // generation's forward (InferenceSession, unmerged adapters) agrees with the training graph's:
        // same math, different kernels and sum orders; 1e-4 abs + 1e-3 rel on O(1) logits
        float[] inf = new InferenceSession(m, loaded, tokens.length).forwardAllLogits(tokens);
        Approx.assertClose(a, inf, 1e-4, 1e-3, () -> method + ": inference vs training-graph logits");
    }

    @org.junit.jupiter.api.Test
    void loraMixerTrainsOnTheAttentionProjectionsAndReloads() throws Exception {
        // LoRA-Mixer's experts live in q/k/v/o only; its RSL includes −λ·E[H], so the logged auxiliary loss may be
        // negative: α/E·(balance) − λ·H with H ≤ ln E (checked as |aux| ≤ α + λ·ln E).
        var m = TinyTraining.model();
        var args = Map.of("rank", "2", "num_experts", "3", "top_k", "2", "rsl_alpha", "0.05", "rsl_lambda", "0.02");
        var targets = java.util.EnumSet.of(Target.Q, Target.K, Target.V, Target.O);
        var adapters = AdapterMethods.create("loramixer", "kaiming", args, m.weights(), targets, 5, null).adapters();
        var cfg = TinyTraining.config().build();
        var data = TinyTraining.data(cfg.seqLen());
        var hooks = TrainingMethods.forAdapterMethod("loramixer", args, new TrainingMethods.Context(m, adapters, data, cfg));
        new Trainer(m, adapters, data, cfg, dir, hooks).train(null);
        int rows = 0;
        for (Object line : Json.readLines(dir.resolve("metrics.jsonl"), Json.Limits.DEFAULT)) {
            var row = (Map<?, ?>) line;
            if ("train".equals(row.get("kind"))) {
                double aux = ((Number) row.get("moe_aux_loss")).doubleValue();
                assertTrue(aux != 0 && Math.abs(aux) <= adapters.adapters().size() * (0.05 + 0.02 * Math.log(3)),
                        "loramixer aux loss " + aux);
                assertEquals(2.0, ((Number) row.get("moe_experts_per_token")).doubleValue(), 1e-9, "top-2 routing");
                rows++;
            }
        }
        assertEquals(cfg.steps(), rows);
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> AdapterMethods.create("loramixer", "kaiming", args, m.weights(), TinyTraining.LORA.targets(), 5, null));
        assertTrue(e.getMessage().contains("attention projections"), e.getMessage());

        Path file = dir.resolve("adapter.jlora");
        AdapterFile.save(file, adapters, Map.of());
        var loaded = AdapterFile.load(file, m.weights());
        assertEquals(adapters.get(1, Target.O).config(), loaded.get(1, Target.O).config());
        int[] tokens = TinyTraining.TOK.encode("the cat sat on a dog", true, false);
        var a = new LlamaTrainGraph(m.config(), m.weights(), adapters, 1, tokens.length, false).logits(tokens);
        var b = new LlamaTrainGraph(m.config(), m.weights(), loaded, 1, tokens.length, false).logits(tokens);
        Approx.assertClose(a, b, 1e-5, 1e-5, () -> "loramixer: reloaded logits (Vector API sums may differ in the last bit between JIT tiers)");
    }
}
