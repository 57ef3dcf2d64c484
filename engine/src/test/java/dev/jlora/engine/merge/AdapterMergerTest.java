package dev.jlora.engine.merge;

import static dev.jlora.simd.testing.Approx.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.DoraAdapter;
import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.linalg.Svd;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.ref.TinyLlama;
import java.util.EnumSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** {@link AdapterMerger} and the merge methods on adapters whose updates are known exactly. */
class AdapterMergerTest {
    static final LlamaWeights BASE = TinyLlama.weights(TinyLlama.config(16, 24, 2, 2, 1, 32, false, false), 3);
    static final EnumSet<Target> TARGETS = EnumSet.of(Target.Q, Target.V, Target.DOWN);

    /** A LoRA set with random A and B (B ~ U(−0.5, 0.5)), so ΔW = s·B·A is non-zero and of full rank r. */
    static TrainableAdapterSet lora(int rank, float alpha, long seed) {
        var set = TrainableAdapterSet.lora(BASE, new LoraConfig(rank, alpha, 0f, false, TARGETS), seed);
        var rnd = new SplittableRandom(seed + 100);
        for (TrainableAdapter a : set.adapters()) {
            float[] b = ((LoraAdapter) a).loraB().value();
            for (int i = 0; i < b.length; i++) {
                b[i] = (float) (rnd.nextDouble() - 0.5);
            }
        }
        return set;
    }

    /** ΔW of one module in float64, from the adapter's own float merge (the reference the merge is held to). */
    static double[] delta(TrainableAdapter a) {
        float[] w = new float[a.outFeatures() * a.inFeatures()];
        a.mergeInto(w);
        double[] d = new double[w.length];
        for (int i = 0; i < w.length; i++) {
            d[i] = w[i];
        }
        return d;
    }

    static double maxAbs(double[] x) {
        double m = 0;
        for (double v : x) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    static double frobenius(double[] x) {
        double s = 0;
        for (double v : x) {
            s += v * v;
        }
        return Math.sqrt(s);
    }

    @Test
    void linearMergeOfTwoLorasIsTheWeightedSumExactly() {
        var a = lora(3, 6f, 1);
        var b = lora(2, 8f, 2);
        var result = AdapterMerger.merge(List.of(a, b), BASE,
                new AdapterMerger.Config(MergeMethod.LINEAR, new double[] {0.5, 2}, 0, 0, 0));
        assertEquals(5, result.rank(), "default rank of a linear merge is Σ rᵢ, which loses nothing");
        for (int l = 0; l < 2; l++) {
            for (Target t : TARGETS) {
                double[] d1 = delta(a.get(l, t)), d2 = delta(b.get(l, t)), got = delta(result.adapters().get(l, t));
                double[] want = new double[d1.length];
                for (int i = 0; i < want.length; i++) {
                    want[i] = 0.5 * d1[i] + 2 * d2[i];
                }
                // factors stored in float32 after an exact float64 SVD: rounding ~1e-7 relative per product
                double tol = 2e-6 * maxAbs(want);
                for (int i = 0; i < want.length; i++) {
                    int idx = i;
                    assertClose(want[i], got[i], tol, 0, () -> t + " entry " + idx);
                }
                var rep = result.modules().stream().filter(m -> m.target() == t).findFirst().orElseThrow();
                assertTrue(rep.truncationError() < 1e-9 * rep.norm(), "no truncation at rank Σ rᵢ: " + rep);
            }
        }
    }

    /** Eckart–Young: the rank-r truncation's error ‖ΔW − ΔW_r‖_F is √(Σ_{j>r} σⱼ²) of the merged update. */
    @Test
    void truncationErrorIsTheTailSingularValues() {
        var a = lora(4, 4f, 5);
        var b = lora(4, 4f, 6);
        int r = 3;
        var result = AdapterMerger.merge(List.of(a, b), BASE, new AdapterMerger.Config(MergeMethod.LINEAR, null, 0, r, 0));
        for (var rep : result.modules()) {
            double[] sum = delta(a.get(rep.layer(), rep.target()));
            double[] d2 = delta(b.get(rep.layer(), rep.target()));
            for (int i = 0; i < sum.length; i++) {
                sum[i] += d2[i];
            }
            TrainableAdapter m = result.adapters().get(rep.layer(), rep.target());
            Svd exact = Svd.jacobi(sum, m.outFeatures(), m.inFeatures());   // reference: full Jacobi SVD of Σ ΔWᵢ
            double tail = 0;
            for (int j = r; j < exact.k(); j++) {
                tail += exact.s()[j] * exact.s()[j];
            }
            tail = Math.sqrt(tail);
            assertTrue(tail > 1e-3 * frobenius(sum), "the sum of two rank-4 LoRAs has rank 8 > r, tail " + tail);
            double[] got = delta(m);
            double[] diff = new double[sum.length];
            for (int i = 0; i < sum.length; i++) {
                diff[i] = sum[i] - got[i];
            }
            // float32 factors: the error norm is known to ~1e-6 of ‖ΔW‖
            assertClose(tail, frobenius(diff), 1e-5 * frobenius(sum), 0, () -> "‖ΔW − ΔW_r‖ " + rep);
            // the report comes from the float64 factors, the reference from the float32 merge: ~1e-7 relative apart
            assertClose(tail, rep.truncationError(), 1e-6 * frobenius(sum), 0, () -> "reported error " + rep);
        }
    }

    /** TIES steps worked by hand on three 4-entry task vectors (density 0.5 keeps 2 entries each). */
    @Test
    void tiesMatchesTheHandComputedMerge() {
        double[][] tau = {{0.5, -0.1, 0.3, -0.8}, {-0.4, 0.2, 0.6, 0.05}, {0.1, -0.7, -0.2, 0.9}};
        // trimmed: [0.5, 0, 0, −0.8], [−0.4, 0, 0.6, 0], [0, −0.7, 0, 0.9]; mass [0.1, −0.7, 0.6, 0.1] → signs + − + +;
        // agreeing entries: 0.5 | −0.7 | 0.6 | 0.9 (−0.8 disagrees), one each
        assertArrayEquals(new double[] {0.5, -0.7, 0.6, 0.9}, TaskVectors.ties(tau, new double[] {1, 1, 1}, 0.5), 1e-15);
        // weight 2 on the second: mass of entry 0 is 0.5 − 0.8 < 0, so −0.8 wins; entry 2 becomes 1.2
        assertArrayEquals(new double[] {-0.8, -0.7, 1.2, 0.9}, TaskVectors.ties(tau, new double[] {1, 2, 1}, 0.5), 1e-15);
        // two agreeing entries are averaged: [0.3, 0.2] and [0.5, 0.4] elect + everywhere
        assertArrayEquals(new double[] {0.4, 0.3}, TaskVectors.ties(new double[][] {{0.3, 0.2}, {0.5, 0.4}},
                new double[] {1, 1}, 1), 1e-15);
    }

    /** TIES through the merger at full rank: each module's update is TIES of the dense updates, as worked above. */
    @Test
    void tiesMergeAtFullRankIsTiesOfTheModuleUpdates() {
        var a = lora(2, 4f, 11);
        var b = lora(3, 4f, 12);
        var result = AdapterMerger.merge(List.of(a, b), BASE, new AdapterMerger.Config(MergeMethod.TIES, null, 0.3, 16, 0));
        for (var rep : result.modules()) {
            double[][] tau = {delta(a.get(rep.layer(), rep.target())), delta(b.get(rep.layer(), rep.target()))};
            double[] want = TaskVectors.ties(tau, new double[] {1, 1}, 0.3);
            double[] got = delta(result.adapters().get(rep.layer(), rep.target()));
            double tol = 2e-6 * maxAbs(want);
            for (int i = 0; i < want.length; i++) {
                int idx = i;
                assertClose(want[i], got[i], tol, 0, () -> rep + " entry " + idx);
            }
        }
    }

    /**
     * DARE keeps the expectation: the mean of N drops of x estimates x with standard error
     * |xᵢ|·√((1 − d)/(d·N)) per entry (a kept entry is xᵢ/d with probability d). Every entry must lie within 5
     * standard errors (two-sided normal tail 6e-7 per entry, 4e-5 for all 64), and the mean squared z-score
     * (χ²₆₄/64, mean 1, sd 0.18) within [0.5, 1.6].
     */
    @Test
    void dareKeepsTheExpectation() {
        int n = 64, draws = 4000;
        double density = 0.3;
        var rnd = new SplittableRandom(21);
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = rnd.nextDouble() * 2 - 1;
        }
        double[] mean = new double[n];
        long kept = 0;
        for (int k = 0; k < draws; k++) {
            double[] d = TaskVectors.dropAndRescale(x, density, rnd);
            for (int i = 0; i < n; i++) {
                mean[i] += d[i] / draws;
                kept += d[i] != 0 ? 1 : 0;
            }
        }
        double z2 = 0;
        for (int i = 0; i < n; i++) {
            double se = Math.abs(x[i]) * Math.sqrt((1 - density) / (density * draws));
            double z = (mean[i] - x[i]) / se;
            assertTrue(Math.abs(z) < 5, "entry " + i + ": mean " + mean[i] + " vs " + x[i] + " is " + z + " standard errors off");
            z2 += z * z / n;
        }
        assertTrue(z2 > 0.5 && z2 < 1.6, "mean squared z-score " + z2);
        // kept count ~ Binomial(n·draws, d): sd √(256000·0.21) ≈ 232; 5 sd bound
        assertEquals(density * n * draws, kept, 5 * Math.sqrt(n * draws * density * (1 - density)), "entries kept");
    }

    @Test
    void dareWithDensityOneIsTheLinearMerge() {
        var a = lora(2, 4f, 31);
        var b = lora(2, 4f, 32);
        var dare = AdapterMerger.merge(List.of(a, b), BASE, new AdapterMerger.Config(MergeMethod.DARE, null, 1, 16, 7));
        var linear = AdapterMerger.merge(List.of(a, b), BASE, new AdapterMerger.Config(MergeMethod.LINEAR, null, 0, 4, 7));
        for (var rep : linear.modules()) {
            double[] want = delta(linear.adapters().get(rep.layer(), rep.target()));
            double[] got = delta(dare.adapters().get(rep.layer(), rep.target()));
            for (int i = 0; i < want.length; i++) {
                int idx = i;
                assertClose(want[i], got[i], 2e-6 * maxAbs(want), 0, () -> rep + " entry " + idx);
            }
        }
    }

    /** Two LoRAs made of the same units (ranks permuted, MSU permutation invariance) merge back into that LoRA. */
    @Test
    void loraLegoOfIdenticalUnitsRecoversTheLora() {
        int r = 4;
        var a = lora(r, 8f, 41);
        var b = lora(r, 8f, 41);
        int[] perm = {2, 0, 3, 1};
        for (TrainableAdapter x : b.adapters()) {
            var l = (LoraAdapter) x;
            float[] av = l.loraA().value().clone(), bv = l.loraB().value().clone();
            int IC = l.inFeatures(), OC = l.outFeatures();
            for (int j = 0; j < r; j++) {
                System.arraycopy(av, perm[j] * IC, l.loraA().value(), j * IC, IC);
                for (int o = 0; o < OC; o++) {
                    l.loraB().value()[o * r + j] = bv[o * r + perm[j]];
                }
            }
        }
        var result = AdapterMerger.merge(List.of(a, b), BASE, new AdapterMerger.Config(MergeMethod.LORA_LEGO, null, 0, 0, 3));
        assertEquals(r, result.rank(), "default LoRA-LEGO rank is the inputs' rank");
        for (var rep : result.modules()) {
            double[] want = delta(a.get(rep.layer(), rep.target()));
            double[] got = delta(result.adapters().get(rep.layer(), rep.target()));
            for (int i = 0; i < want.length; i++) {
                int idx = i;
                assertClose(want[i], got[i], 1e-6 * maxAbs(want), 0, () -> rep + " entry " + idx);
            }
        }
    }

    /**
     * With one cluster per unit, centroids are the units (parameter reweighting is 1) and the merged update is
     * ΔW₁ + ΔW₂ rescaled to the mean of ‖ΔW₁‖ and ‖ΔW₂‖ (output reweighting).
     */
    @Test
    void loraLegoWithOneClusterPerUnitIsTheRescaledSum() {
        var a = lora(2, 4f, 51);
        var b = lora(3, 6f, 52);
        var result = AdapterMerger.merge(List.of(a, b), BASE, new AdapterMerger.Config(MergeMethod.LORA_LEGO, null, 0, 5, 3));
        for (var rep : result.modules()) {
            double[] d1 = delta(a.get(rep.layer(), rep.target())), d2 = delta(b.get(rep.layer(), rep.target()));
            double[] want = new double[d1.length];
            for (int i = 0; i < want.length; i++) {
                want[i] = d1[i] + d2[i];
            }
            double f = (frobenius(d1) + frobenius(d2)) / 2 / frobenius(want);
            for (int i = 0; i < want.length; i++) {
                want[i] *= f;
            }
            double[] got = delta(result.adapters().get(rep.layer(), rep.target()));
            for (int i = 0; i < want.length; i++) {
                int idx = i;
                assertClose(want[i], got[i], 1e-6 * maxAbs(want), 0, () -> rep + " entry " + idx);
            }
        }
    }

    @Test
    void nonLoraAdaptersMergeThroughTheirUpdate() {
        var lora = lora(2, 4f, 61);
        var dora = TrainableAdapterSet.create(BASE, TARGETS, (l, t, w, rnd) -> {
            var d = new DoraAdapter(w, 2, 4f, 0f, false);
            for (int i = 0; i < d.loraA().value().length; i++) {
                d.loraA().value()[i] = (float) (rnd.nextDouble() - 0.5);
            }
            for (int i = 0; i < d.loraB().value().length; i++) {
                d.loraB().value()[i] = (float) (rnd.nextDouble() - 0.5);
            }
            return d;
        }, 5);
        var result = AdapterMerger.merge(List.of(lora, dora), BASE, new AdapterMerger.Config(MergeMethod.LINEAR, null, 0, 16, 0));
        for (var rep : result.modules()) {
            var w = TrainableAdapterSet.baseWeight(BASE.layers().get(rep.layer()), rep.target());
            double[] want = AdapterMerger.denseDelta(dora.get(rep.layer(), rep.target()), w);
            double[] d1 = delta(lora.get(rep.layer(), rep.target()));
            for (int i = 0; i < want.length; i++) {
                want[i] += d1[i];
            }
            double[] got = delta(result.adapters().get(rep.layer(), rep.target()));
            for (int i = 0; i < want.length; i++) {
                int idx = i;
                assertClose(want[i], got[i], 2e-6 * maxAbs(want), 0, () -> rep + " entry " + idx);
            }
        }
        var e = assertThrows(UnsupportedOperationException.class, () -> AdapterMerger.merge(List.of(lora, dora), BASE,
                new AdapterMerger.Config(MergeMethod.LORA_LEGO, null, 0, 2, 0)));
        assertTrue(e.getMessage().contains("dora"), e.getMessage());
    }

    @Test
    void badConfigurationIsRejectedByName() {
        var e = assertThrows(IllegalArgumentException.class, () -> new AdapterMerger.Config(MergeMethod.TIES, null, 0, 0, 0));
        assertTrue(e.getMessage().contains("density"), e.getMessage());
        var a = lora(2, 4f, 1);
        e = assertThrows(IllegalArgumentException.class, () -> AdapterMerger.merge(List.of(a, a), BASE,
                new AdapterMerger.Config(MergeMethod.LINEAR, new double[] {1}, 0, 0, 0)));
        assertTrue(e.getMessage().contains("--weights has 1 values for 2 adapters"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> MergeMethod.parse("average"));
        assertTrue(e.getMessage().contains("ties"), e.getMessage());
    }
}
