package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.linalg.Svd;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.engine.train.InitBatches;
import dev.jlora.simd.testing.Approx;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LoRA-SB: R's backward against float64 finite differences, merge, round trip, and the init's defining property. */
class LoraSbTest {
    @TempDir
    Path dir;

    static LoraSbAdapter random(int IC, int OC, int r, long seed) {
        var sb = new LoraSbAdapter(IC, OC, r, 0f, LoraSbInit.initConfig(1e-3f, "sign", 2));
        var rnd = new SplittableRandom(seed);
        System.arraycopy(AdapterCheck.floats(rnd, r * IC, 1), 0, sb.loraA(), 0, r * IC);
        System.arraycopy(AdapterCheck.floats(rnd, OC * r, 1), 0, sb.loraB(), 0, OC * r);
        System.arraycopy(AdapterCheck.floats(rnd, r * r, 1), 0, sb.loraR().value(), 0, r * r);
        return sb;
    }

    @Test
    void backwardMergeAndStateRoundTrip() {
        int IC = 7, OC = 5, r = 3;
        var sb = random(IC, OC, r, 1);
        AdapterCheck.gradients(sb, VariantRefs.loraSb(IC, OC, r), 4, 2);
        assertEquals(1, sb.parameters().size(), "only R trains");
        var base = AdapterInitTest.randomMatrix(3, OC, IC);
        AdapterCheck.mergeMatchesForward(sb, base, 4, 5);
        AdapterCheck.stateRoundTrip(sb, new LoraSbAdapter(IC, OC, r, 0f, LoraSbInit.initConfig(1e-3f, "sign", 2)), 3, 6);
    }

    /** §4 of the paper: B·R·A is the best rank-r approximation of ΔW₁ = −η·sign(G), with orthonormal B and A. */
    @Test
    void theInitIsTheTruncatedSvdOfTheApproximatedFirstUpdate() {
        int IC = 9, OC = 11, r = 3, T = 20;
        float lr = 1e-3f;
        var rnd = new SplittableRandom(8);
        float[] x = AdapterCheck.floats(rnd, T * IC, 1), dy = AdapterCheck.floats(rnd, T * OC, 1);
        float[] g = new float[OC * IC];
        var probe = new InitProbe(IC, OC, null, g);
        probe.backward(x, T, dy, probe.forwardTrain(x, T, new float[T * OC], 0), null);
        for (boolean sign : new boolean[] {true, false}) {
            var sb = new LoraSbAdapter(IC, OC, r, 0f, Map.of());
            LoraSbInit.init(sb, g, lr, sign, new SplittableRandom(1));
            double[] update = new double[g.length];
            for (int i = 0; i < g.length; i++) {
                update[i] = -lr * (sign ? Math.signum(g[i]) : g[i]);
            }
            double[] best = Svd.jacobi(update, OC, IC).truncate(r).product();
            float[] merged = new float[OC * IC];
            sb.mergeInto(merged);
            // fp32 factors of an exact float64 SVD: 1e-6 relative to entries of size ~lr
            Approx.assertClose(best, merged, 1e-6 * lr, 1e-5, () -> "B·R·A vs trunc_r(ΔW₁), sign=" + sign);
            for (int j = 0; j < r; j++) {
                for (int k = 0; k < r; k++) {
                    double aa = 0, bb = 0;
                    for (int i = 0; i < IC; i++) {
                        aa += (double) sb.loraA()[j * IC + i] * sb.loraA()[k * IC + i];
                    }
                    for (int o = 0; o < OC; o++) {
                        bb += (double) sb.loraB()[o * r + j] * sb.loraB()[o * r + k];
                    }
                    assertEquals(j == k ? 1 : 0, aa, 1e-6, "A·Aᵀ");
                    assertEquals(j == k ? 1 : 0, bb, 1e-6, "Bᵀ·B");
                }
            }
        }
    }

    @Test
    void fromTheRegistryOnATinyModelItTrainsOnlyRAndTheFileRebuildsIt() throws Exception {
        LlamaModel m = TinyTraining.model();
        var targets = EnumSet.of(Target.Q, Target.V, Target.DOWN);
        var values = Map.of("rank", "2", "init_lr", "1e-3", "init_batches", "2");
        var adapted = AdapterMethods.create("lorasb", "kaiming", values, m.weights(), targets, 1, null,
                new InitBatches(m, TinyTraining.data(24), 2, 7));
        var set = adapted.adapters();
        assertEquals(2L * 2 * 2 * targets.size(), set.parameterCount(), "r² per adapted layer");
        var sb = (LoraSbAdapter) set.get(1, Target.DOWN);
        assertTrue(sb.loraR().value()[0] > 0, "R starts at the singular values");
        Path file = dir.resolve("sb.jlora");
        AdapterFile.save(file, set, Map.of());
        var loaded = AdapterFile.load(file, m.weights());
        assertEquals(sb.config(), loaded.get(1, Target.DOWN).config());
        for (var e : set.state().entrySet()) {
            org.junit.jupiter.api.Assertions.assertArrayEquals(e.getValue(), loaded.state().get(e.getKey()), 0f, e.getKey());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> AdapterMethods.create("lorasb", "kaiming", values,
                m.weights(), targets, 1, null));
        assertTrue(e.getMessage().contains("no data"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> AdapterMethods.create("lorasb", "pissa", values,
                m.weights(), targets, 1, null));
        assertTrue(e.getMessage().contains("own initialisation"), e.getMessage());
    }
}
