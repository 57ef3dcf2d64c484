package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jlora.engine.ref.F32Matrix;
import dev.jlora.simd.testing.Approx;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The adapter of the rank-adaptive methods: Δ(x) = s·Σ_k m_k·e_k·(x·A[k]ᵀ)·B[:,k]ᵀ, s = alpha/(ranknum + eps),
 * checked against a float64 reference written from that formula (gradients by central differences), with part of
 * the components masked out.
 */
class RankMaskedAdapterTest {
    static final int IC = 7, OC = 5, R = 4, T = 3;

    /** The float64 reference; mask and ranknum come from the adapter's buffers. */
    static VariantRefs.Ref ref(double alpha, double eps, boolean withE) {
        return (x, t, p) -> {
            double[] a = p.get("lora_A"), b = p.get("lora_B"), e = p.get("lora_E"), m = p.get("rank_mask");
            double s = alpha / (p.get("ranknum")[0] + eps);
            double[] y = new double[t * OC];
            for (int row = 0; row < t; row++) {
                for (int k = 0; k < R; k++) {
                    double h = 0;
                    for (int i = 0; i < IC; i++) {
                        h += x[row * IC + i] * a[k * IC + i];
                    }
                    double g = s * m[k] * (withE ? e[k] : 1);
                    for (int o = 0; o < OC; o++) {
                        y[row * OC + o] += g * h * b[o * R + k];
                    }
                }
            }
            return y;
        };
    }

    static RankMaskedAdapter randomAdapter(boolean withE, float eps, long seed) {
        var ad = new RankMaskedAdapter("adalora", IC, OC, R, 6f, 0f, withE, eps, Map.of("target_r", "2"));
        var rnd = new SplittableRandom(seed);
        for (Parameter p : ad.parameters()) {
            VariantsTest.randomize(p, rnd, -1, 1);
        }
        ad.mask()[1] = 0f;                 // one component pruned
        ad.setRanknum(3);
        return ad;
    }

    @Test
    void backwardMatchesFiniteDifferencesWithAComponentMasked() {
        for (boolean withE : new boolean[] {true, false}) {
            var ad = randomAdapter(withE, withE ? 1e-5f : 0f, 1);
            AdapterCheck.gradients(ad, ref(6, withE ? 1e-5 : 0, withE), T, 2);
            for (int i = 0; i < IC; i++) {
                assertEquals(0f, ad.loraA().grad()[IC + i], 0f, "a masked component gets no gradient: dA[1," + i + "]");
            }
            AdapterCheck.mergeMatchesForward(ad, new F32Matrix(OC, IC, AdapterCheck.floats(new SplittableRandom(3),
                    OC * IC, 1)), T, 4);
            AdapterCheck.stateRoundTrip(ad, new RankMaskedAdapter("adalora", IC, OC, R, 6f, 0f, withE,
                    withE ? 1e-5f : 0f, Map.of("target_r", "2")), T, 5);
        }
    }

    @Test
    void plainLoraEquivalentHasTheSurvivingRankAndTheSameUpdate() {
        var ad = randomAdapter(true, 1e-5f, 6);
        LoraAdapter lora = ad.toLora();
        assertEquals(3, lora.rank(), "4 components, one masked");
        float[] x = AdapterCheck.floats(new SplittableRandom(7), T * IC, 1);
        float[] want = new float[T * OC], got = new float[T * OC];
        ad.forward(x, T, want);
        lora.forward(x, T, got);
        // fp32, same products summed in a different grouping: 1e-6 abs + 1e-5 rel
        Approx.assertClose(AdapterCheck.doubles(want), got, 1e-6, 1e-5, () -> "toLora forward");
    }

    @Test
    void truncationKeepsAPrefixAndScalesByAlphaOverB() {
        var ad = new RankMaskedAdapter("dylora", IC, OC, R, 8f, 0f, false, 0f, Map.of())
                .init(RankMaskedAdapter.Init.LORA, new SplittableRandom(8));
        ad.truncate(2);
        assertEquals(2, ad.activeRank());
        assertEquals(4f, ad.scale(), 0f, "α/b = 8/2");
        VariantsTest.randomize(ad.loraB(), new SplittableRandom(9), -1, 1);
        AdapterCheck.gradients(ad, ref(8, 0, false), T, 10);
    }
}
