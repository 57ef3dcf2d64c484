package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.engine.train.Trainer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** MeteoRA trained through {@link Trainer}: the embedded adapters stay bit-identical, the gates train, the file reloads. */
class MeteoraTest {
    @TempDir
    Path dir;

    /**
     * Trains {@code set} (an adapter set routing frozen pre-trained experts) with its method's hooks and checks the
     * contract both methods share: only the routers are parameters and they change, the experts stay bit-identical,
     * the routing metric is logged, and the saved file reloads with the same config and logits.
     */
    private void trainRoutersOnlyThenReload(LlamaModel m, TrainableAdapterSet set, String method, String metric)
            throws Exception {
        var frozen = new HashMap<String, float[]>();
        for (TrainableAdapter a : set.adapters()) {
            a.buffers().forEach((k, v) -> frozen.put(System.identityHashCode(a) + k, v.clone()));
        }
        var routers = new HashMap<String, float[]>();
        for (Parameter p : set.parameters()) {
            assertTrue(p.name().endsWith("router.weight"), "only routers train: " + p.name());
            routers.put(p.name(), p.value().clone());
        }
        var cfg = TinyTraining.config().build();
        var data = TinyTraining.data(cfg.seqLen());
        var hooks = TrainingMethods.forAdapterMethod(method, Map.of(), new TrainingMethods.Context(m, set, data, cfg));
        new Trainer(m, set, data, cfg, dir, hooks).train(null);
        for (TrainableAdapter a : set.adapters()) {
            a.buffers().forEach((k, v) -> assertArrayEquals(frozen.get(System.identityHashCode(a) + k), v, k));
        }
        assertTrue(set.parameters().stream().anyMatch(p -> !java.util.Arrays.equals(routers.get(p.name()), p.value())),
                "the routers trained");
        assertTrue(java.nio.file.Files.readString(dir.resolve("metrics.jsonl")).contains("\"" + metric + "\""));

        Path file = dir.resolve(method + ".jlora");
        AdapterFile.save(file, set, Map.of());
        var loaded = AdapterFile.load(file, m.weights());
        assertEquals(set.get(1, Target.V).config(), loaded.get(1, Target.V).config());
        int[] tokens = TinyTraining.TOK.encode("one bird sang", true, false);
        assertArrayEquals(new LlamaTrainGraph(m.config(), m.weights(), set, 1, tokens.length, false).logits(tokens),
                new LlamaTrainGraph(m.config(), m.weights(), loaded, 1, tokens.length, false).logits(tokens), 1e-5f,
                "reloaded " + method + " logits (1e-5: last-bit differences of the Vector API between JIT tiers)");
    }

    @Test
    void trainsTheGatesOnlyAndReloads() throws Exception {
        var m = TinyTraining.model();
        var adapters = List.of(XLoraTest.expert(m, 2, 3), XLoraTest.expert(m, 4, 4), XLoraTest.expert(m, 2, 5));
        var set = AdapterMethods.meteora(m.weights(), TinyTraining.LORA.targets(), adapters, 2, 9);
        trainRoutersOnlyThenReload(m, set, "meteora", "moe_expert_load");
    }

    @Test
    void loraMixerRoutesFrozenPretrainedAdaptersAndReloads() throws Exception {
        // LoRA-Mixer's plug-and-play regime: same contract as MeteoRA (experts bit-identical, routers train, the file
        // reloads), on the attention projections only, with the RSL reported as the auxiliary loss.
        var m = TinyTraining.model();
        var adapters = List.of(XLoraTest.expert(m, 2, 3), XLoraTest.expert(m, 4, 4));
        var targets = java.util.EnumSet.of(Target.Q, Target.V);
        var set = AdapterMethods.loraMixer(m.weights(), targets, adapters, 1, 0.05f, 0.02f, 9);
        trainRoutersOnlyThenReload(m, set, "loramixer", "moe_aux_loss");
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> AdapterMethods.create("loramixer", "kaiming", Map.of("frozen_experts", "true"), m.weights(), targets,
                        1, null));
        assertTrue(e.getMessage().contains("adapters="), e.getMessage());
    }
}
