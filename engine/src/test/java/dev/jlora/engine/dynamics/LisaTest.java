package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.adapter.TrainableBase;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.TrainListener;
import dev.jlora.engine.train.Trainer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LisaTest {
    @TempDir
    Path dir;

    /** Full adapters on every linear of the tiny model, trainable embedding and head. */
    static TrainableAdapterSet full(LlamaModel m) {
        return AdapterMethods.create("full", "kaiming", Map.of(), m.weights(), EnumSet.allOf(Target.class), 1, null)
                .adapters().withBase(TrainableBase.copyOf(m.weights(), EnumSet.of(TrainableBase.Part.EMBED,
                        TrainableBase.Part.HEAD)));
    }

    /** Each period, exactly the sampled layers (plus embedding and head) change; every other layer keeps its values. */
    @Test
    void onlyTheSampledLayersChangeEachPeriod() throws IOException {
        var m = TinyTraining.model();
        var adapters = full(m);
        var cfg = TinyTraining.config().steps(6).evalEvery(0).build();
        var data = TinyTraining.data(cfg.seqLen());
        var hook = (Lisa) TrainingMethods.create(List.of("lisa"), Map.of("lisa_activated_layers", "1",
                "lisa_interval_steps", "1"), new TrainingMethods.Context(m, adapters, data, cfg)).getFirst();
        var snapshots = new ArrayList<List<float[]>>();
        var sampled = new ArrayList<int[]>();
        snapshots.add(values(adapters));
        new Trainer(m, adapters, data, cfg, dir, List.of(hook)).train(new TrainListener() {
            @Override public void onStep(Step s) {
                snapshots.add(values(adapters));
                sampled.add(hook.sampledLayers());
                for (Parameter p : adapters.parameters()) {
                    int l = Lisa.layerOf(p);
                    if (l >= 0 && p.name().endsWith("delta_weight")) {
                        boolean any = false;
                        for (float g : p.grad()) {
                            any |= g != 0;
                        }
                        boolean isSampled = java.util.Arrays.stream(hook.sampledLayers()).anyMatch(x -> x == l);
                        assertEquals(isSampled, any, "step " + s.step() + " " + p.name()
                                + ": frozen layers skip their weight gradient, sampled ones have one");
                    }
                }
            }
        });
        Set<Integer> seen = new HashSet<>();
        for (int step = 0; step < 6; step++) {
            int[] want = Lisa.sample(cfg.seed(), step, 2, 1);
            assertArrayEquals(want, sampled.get(step), "period " + step + " sample is a function of (seed, period)");
            seen.add(want[0]);
            List<Parameter> ps = adapters.parameters();
            for (int i = 0; i < ps.size(); i++) {
                boolean changed = !java.util.Arrays.equals(snapshots.get(step).get(i), snapshots.get(step + 1).get(i));
                int layer = Lisa.layerOf(ps.get(i));
                boolean shouldChange = layer < 0 || layer == want[0];
                assertEquals(shouldChange, changed, "step " + step + " " + ps.get(i).name());
            }
        }
        assertEquals(Set.of(0, 1), seen, "over 6 periods both layers were sampled (seed 7)");
    }

    private static List<float[]> values(TrainableAdapterSet a) {
        return a.parameters().stream().map(p -> p.value().clone()).toList();
    }

    /** Uniform without replacement: distinct, sorted, reproducible; each of 10 layers drawn ≈ 3/10 of 3000 periods. */
    @Test
    void samplingIsUniformAndReproducibleFromTheSeed() {
        int[] counts = new int[10];
        for (int p = 0; p < 3000; p++) {
            int[] s = Lisa.sample(42, p, 10, 3);
            assertArrayEquals(s, Lisa.sample(42, p, 10, 3));
            assertEquals(3, java.util.Arrays.stream(s).distinct().count());
            for (int i = 1; i < s.length; i++) {
                assertTrue(s[i - 1] < s[i]);
            }
            for (int l : s) {
                counts[l]++;
            }
        }
        for (int c : counts) {
            // binomial(3000, 0.3): mean 900, sd 25; 5 sd
            assertEquals(900, c, 125, java.util.Arrays.toString(counts));
        }
        assertFalse(java.util.Arrays.equals(Lisa.sample(42, 0, 10, 3), Lisa.sample(43, 0, 10, 3))
                && java.util.Arrays.equals(Lisa.sample(42, 1, 10, 3), Lisa.sample(43, 1, 10, 3)), "the seed matters");
    }

    @Test
    void resumesExactlyAndRequiresFullTraining() throws IOException {
        var m = TinyTraining.model();
        ResumeCheck.resumesExactly(m, () -> full(m), TinyTraining.config().steps(6).build(), "lisa",
                Map.of("lisa_activated_layers", "1", "lisa_interval_steps", "2"), dir);

        var cfg = TinyTraining.config().build();
        var data = TinyTraining.data(cfg.seqLen());
        var lora = TrainableAdapterSet.lora(m.weights(), TinyTraining.LORA, 1);
        var e = assertThrows(IllegalArgumentException.class, () -> TrainingMethods.create(List.of("lisa"), Map.of(),
                new TrainingMethods.Context(m, lora, data, cfg)));
        assertTrue(e.getMessage().contains("--method full"), e.getMessage());
        var noHead = AdapterMethods.create("full", "kaiming", Map.of(), m.weights(), EnumSet.of(Target.Q), 1, null).adapters();
        e = assertThrows(IllegalArgumentException.class, () -> TrainingMethods.create(List.of("lisa"), Map.of(),
                new TrainingMethods.Context(m, noHead, data, cfg)));
        assertTrue(e.getMessage().contains("--train-base embed,head"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TrainingMethods.create(List.of("lisa"),
                Map.of("lisa_activated_layers", "3"), new TrainingMethods.Context(m, full(m), data, cfg)));
        assertTrue(e.getMessage().contains("lisa_activated_layers must be in [1, 2]"), e.getMessage());
    }
}
