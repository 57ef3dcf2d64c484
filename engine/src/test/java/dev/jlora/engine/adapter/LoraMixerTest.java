package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * LoRA-Mixer (arXiv 2507.00029): gradients of the routed experts and of the Routing Specialization Loss against the
 * float64 reference ({@link MixtureRefs#loramixerRsl}) by central differences, and its defining properties: hard top-k
 * choice with soft renormalised weights, the loss's closed form on a uniform router, the sign of its entropy term as
 * printed in Eq. 5, and experts on the attention projections only.
 */
class LoraMixerTest {
    static final int IC = MixtureTest.IC, OC = MixtureTest.OC, R = MixtureTest.R, T = MixtureTest.T;

    @Test
    void gradientsIncludingTheRoutingSpecializationLoss() {
        for (long seed = 1; seed <= 3; seed++) {
            var ad = new LoraMixerAdapter(IC, OC, R, 4, 3f, 0f, 2, 0.3f, 0.2f);
            MixtureTest.randomize(ad, new SplittableRandom(seed), 0.8);
            MixtureTest.gradients(ad, MixtureRefs.mixture(IC, OC, R, 4, 3.0 / R, MixtureRefs.topK(2), true, null,
                    MixtureRefs.loramixerRsl(0.3, 0.2, 2)), seed);
        }
        // the prose's reading (entropy minimised) is a negative λ: same machinery, same check
        var ad = new LoraMixerAdapter(IC, OC, R, 3, 3f, 0f, 1, 0.3f, -0.5f);
        MixtureTest.randomize(ad, new SplittableRandom(9), 0.8);
        MixtureTest.gradients(ad, MixtureRefs.mixture(IC, OC, R, 3, 3.0 / R, MixtureRefs.topK(1), true, null,
                MixtureRefs.loramixerRsl(0.3, -0.5, 1)), 9);
    }

    @Test
    void routesEachTokenToItsTopKExpertsWithSoftRenormalisedWeights() {
        // Forward of one token = Σ over its k most probable experts of (p_e / Σ_top p)·s·B_e·A_e·x, each expert's own
        // LoRA output recomputed from the same tensors (fp32, 1e-6).
        var ad = new LoraMixerAdapter(IC, OC, R, 5, 3f, 0f, 2, 0.01f, 0.01f);
        MixtureTest.randomize(ad, new SplittableRandom(4), 1);
        float[] x = AdapterCheck.floats(new SplittableRandom(5), T * IC, 1);
        float[] y = new float[T * OC];
        ad.forward(x, T, y);
        Routing r = ad.router.route(x, T, ad.selection(), null);
        var params = ad.parameters();
        for (int t = 0; t < T; t++) {
            float[] p = java.util.Arrays.copyOfRange(r.probs(), t * 5, (t + 1) * 5);
            boolean[] top = MixtureRefs.top(AdapterCheck.doubles(p), 2);
            double mass = 0;
            int chosen = 0;
            for (int e = 0; e < 5; e++) {
                if (top[e]) {
                    mass += p[e];
                    chosen++;
                }
            }
            assertEquals(2, chosen, "token " + t);
            for (int o = 0; o < OC; o++) {
                double want = 0;
                for (int e = 0; e < 5; e++) {
                    if (!top[e]) {
                        continue;
                    }
                    float[] a = params.get(1 + 2 * e).value(), b = params.get(2 + 2 * e).value();
                    double v = 0;
                    for (int k = 0; k < R; k++) {
                        double h = 0;
                        for (int i = 0; i < IC; i++) {
                            h += a[k * IC + i] * x[t * IC + i];
                        }
                        v += b[o * R + k] * h;
                    }
                    want += p[e] / mass * (3.0 / R) * v;
                }
                assertEquals(want, y[t * OC + o], 1e-5, "token " + t + " output " + o);
            }
        }
    }

    @Test
    void routingSpecializationLossOfAUniformRouterInClosedForm() {
        // Zero router: p = 1/E for every token; ties go to the lowest indices, so experts 0..k−1 take every token:
        // Σ p̄·f̄ = k·(1/E)·(1/k) = 1/E and H = ln E, hence L_RSL = α/E − λ·ln E.
        var ad = new LoraMixerAdapter(IC, OC, R, 4, 3f, 0f, 2, 0.3f, 0.2f);
        float[] x = AdapterCheck.floats(new SplittableRandom(3), T * IC, 1);
        ad.backward(x, T, new float[T * OC], ad.forwardTrain(x, T, new float[T * OC], 0), null);
        assertEquals(0.3 / 4 - 0.2 * Math.log(4), ad.drainStats().auxLoss, 1e-6);
    }

    @Test
    void descendingTheLossAsPrintedRaisesTheRouterEntropy() {
        // Eq. 5 subtracts λ·E[H]: with α = 0 and no task gradient, SGD on the router alone must increase the mean
        // entropy of a peaked router, and with λ < 0 decrease it.
        for (float lambda : new float[] {0.5f, -0.5f}) {
            var ad = new LoraMixerAdapter(IC, OC, R, 4, 3f, 0f, 2, 0f, lambda);
            MixtureTest.randomize(ad, new SplittableRandom(7), 2);
            float[] x = AdapterCheck.floats(new SplittableRandom(8), T * IC, 1);
            double before = entropy(ad, x);
            for (int step = 0; step < 20; step++) {
                ad.router.gate().zeroGrad();
                ad.backward(x, T, new float[T * OC], ad.forwardTrain(x, T, new float[T * OC], 0), null);
                float[] g = ad.router.gate().value(), dg = ad.router.gate().grad();
                for (int i = 0; i < g.length; i++) {
                    g[i] -= 0.5f * dg[i];
                }
            }
            double after = entropy(ad, x);
            assertTrue(lambda > 0 ? after > before : after < before,
                    "λ=" + lambda + ": mean router entropy " + before + " → " + after);
        }
    }

    private static double entropy(LoraMixerAdapter ad, float[] x) {
        return ad.router.route(x, T, ad.selection(), null).meanEntropy();
    }

    @Test
    void expertsGoIntoTheAttentionProjectionsOnly() {
        LoraMixerAdapter.checkTargets(Set.of(Target.Q, Target.K, Target.V, Target.O));
        var e = assertThrows(IllegalArgumentException.class,
                () -> LoraMixerAdapter.checkTargets(Set.of(Target.Q, Target.UP)));
        assertTrue(e.getMessage().contains("attention projections") && e.getMessage().contains("up"), e.getMessage());
        var k = assertThrows(IllegalArgumentException.class, () -> new LoraMixerAdapter(IC, OC, R, 3, 3f, 0f, 4, 0f, 0f));
        assertTrue(k.getMessage().contains("top_k"), k.getMessage());
    }

    @Test
    void roundTripsThroughItsConfigAndRefusesToMerge() {
        var ad = new LoraMixerAdapter(IC, OC, R, 3, 3f, 0f, 2, 0.02f, 0.03f);
        MixtureTest.randomize(ad, new SplittableRandom(11), 0.8);
        AdapterCheck.stateRoundTrip(ad, new LoraMixerAdapter(IC, OC, R, 3, 3f, 0f, 2, 0.02f, 0.03f), T, 12);
        Map<String, String> cfg = ad.config();
        assertEquals("loramixer", cfg.get("method"));
        assertEquals("3", cfg.get("num_experts"));
        assertEquals("0.03", cfg.get("rsl_lambda"));
        var e = assertThrows(UnsupportedOperationException.class, () -> ad.mergeInto(new float[OC * IC]));
        assertTrue(e.getMessage().contains("cannot be merged"), e.getMessage());
    }

    @Test
    void frozenPretrainedExpertsTrainOnlyTheRouterWithTheLoss() {
        // Regime (ii): two pre-trained LoRAs of ranks 1 and 2 become frozen experts (buffers, B pre-scaled, padded to
        // rank 2, expert scale 1); only router.weight is a parameter; its gradient, RSL included, against the reference.
        var rnd = new SplittableRandom(13);
        var ad = new LoraMixerAdapter(IC, OC, 2, 2, 2f, 0f, 1, 0.3f, 0.2f, true);
        for (int e = 0; e < 2; e++) {
            var lora = new LoraAdapter(IC, OC, e + 1, 3f, 0f, false);
            MixtureTest.randomize(lora, rnd, 0.8);
            ad.setExpert(e, lora);
        }
        MixtureTest.randomize(ad, rnd, 1.5);
        assertEquals(1, ad.parameters().size(), "only the router trains");
        assertEquals(4, ad.buffers().size(), "A and B of 2 frozen experts");
        assertEquals("true", ad.config().get("frozen_experts"));
        MixtureTest.gradients(ad, MixtureRefs.mixture(IC, OC, 2, 2, 1.0, MixtureRefs.topK(1), true, null,
                MixtureRefs.loramixerRsl(0.3, 0.2, 1)), 13);
        AdapterCheck.stateRoundTrip(ad, new LoraMixerAdapter(IC, OC, 2, 2, 2f, 0f, 1, 0.3f, 0.2f, true), T, 14);
        var e = assertThrows(IllegalStateException.class,
                () -> new LoraMixerAdapter(IC, OC, 2, 2, 2f, 0f, 1, 0f, 0f).setExpert(0, new LoraAdapter(IC, OC, 1, 1f, 0f, false)));
        assertTrue(e.getMessage().contains("frozen_experts"), e.getMessage());
    }
}
