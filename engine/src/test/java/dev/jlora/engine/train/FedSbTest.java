package dev.jlora.engine.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.LoraSbAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.ref.TinyTraining;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Fed-SB's defining property: the server's R̄ gives exactly the mean of the clients' updates B·R_k·A. */
class FedSbTest {
    @TempDir
    Path dir;

    /** B·R·A [OC × IC] in float64. */
    static double[] delta(LoraSbAdapter sb, float[] rm) {
        int OC = sb.outFeatures(), IC = sb.inFeatures(), r = sb.rank();
        double[] d = new double[OC * IC];
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < IC; i++) {
                double acc = 0;
                for (int j = 0; j < r; j++) {
                    for (int k = 0; k < r; k++) {
                        acc += (double) sb.loraB()[o * r + j] * rm[j * r + k] * sb.loraA()[k * IC + i];
                    }
                }
                d[o * IC + i] = acc;
            }
        }
        return d;
    }

    @Test
    void theAggregatedUpdateIsTheMeanOfTheClientsUpdates() throws Exception {
        LlamaModel m = TinyTraining.model();
        var ds = TinyTraining.data(24);
        var targets = EnumSet.of(Target.Q, Target.DOWN);
        TrainableAdapterSet set = AdapterMethods.create("lorasb", "kaiming", Map.of("rank", "2", "init_lr", "1e-3",
                "init_batches", "2"), m.weights(), targets, 1, null, new InitBatches(m, ds, 2, 7)).adapters();
        var shards = FedSb.shards(ds, 3);
        assertEquals(ds.train().size(), shards.stream().mapToInt(d -> d.train().size()).sum(), "every row goes to one client");
        var cfg = TinyTraining.config().steps(2).gradAccum(1).lr(5e-2f).warmupSteps(0).build();
        var rounds = FedSb.train(m, set, shards, cfg, 2, dir, null);
        assertEquals(2, rounds.size());
        var last = rounds.getLast();
        assertEquals(FedSb.average(last.clientParameters()).keySet(), set.state().keySet().stream()
                .filter(k -> k.endsWith("lora_R")).collect(java.util.stream.Collectors.toCollection(java.util.LinkedHashSet::new)));
        for (var p : set.parameters()) {
            assertArrayEquals(FedSb.average(last.clientParameters()).get(p.name()), p.value(), 0f, "R̄ = mean of R_k");
            assertTrue(!Arrays.equals(last.clientParameters().get(0).get(p.name()),
                    last.clientParameters().get(1).get(p.name())), "clients trained on different shards differ");
        }
        for (int l = 0; l < 2; l++) {
            for (Target t : targets) {
                var sb = (LoraSbAdapter) set.get(l, t);
                String name = "layers." + l + "." + t.hfName() + ".lora_R";
                double[] mean = new double[sb.outFeatures() * sb.inFeatures()];
                for (var client : last.clientParameters()) {
                    double[] d = delta(sb, client.get(name));
                    for (int i = 0; i < d.length; i++) {
                        mean[i] += d[i] / last.clientParameters().size();
                    }
                }
                double[] global = delta(sb, sb.loraR().value());
                double max = Arrays.stream(mean).map(Math::abs).max().orElse(0);
                for (int i = 0; i < mean.length; i++) {
                    // exact in real arithmetic; R̄ is rounded once to fp32 (2⁻²⁴ relative)
                    assertEquals(mean[i], global[i], 1e-6 * max, name + " ΔW[" + i + "]");
                }
            }
        }
    }

    @Test
    void onlyLoraSbCanBeAggregatedExactly() throws Exception {
        LlamaModel m = TinyTraining.model();
        var lora = TrainableAdapterSet.lora(m.weights(), TinyTraining.LORA, 1);
        var ds = TinyTraining.data(24);
        var e = assertThrows(IllegalArgumentException.class, () -> FedSb.train(m, lora, FedSb.shards(ds, 2),
                TinyTraining.config().build(), 1, dir, null));
        assertTrue(e.getMessage().contains("--method lorasb"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> FedSb.shards(ds, 1000));
        assertTrue(e.getMessage().contains("every client needs at least one"), e.getMessage());
    }
}
