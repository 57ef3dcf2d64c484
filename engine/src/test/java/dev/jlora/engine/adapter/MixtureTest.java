package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.simd.testing.Approx;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * The mixtures of LoRA experts against their float64 references ({@link MixtureRefs}): forward, auxiliary loss, and
 * the gradients of L = dy·Δ(x) + aux(x) — router, experts, selection bias and input — by central differences; plus
 * each method's defining property.
 */
class MixtureTest {
    static final int IC = 5, OC = 4, R = 2, T = 7;

    /** Every value U(−scale, scale): a nonzero B makes the router's gradient visible. */
    static void randomize(TrainableAdapter ad, SplittableRandom rnd, double scale) {
        for (Parameter p : ad.parameters()) {
            float[] v = p.value();
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
            }
        }
    }

    /**
     * Forward and aux loss vs the reference (1e-5 abs + 1e-4 rel: fp32 sums of ≤ 20 O(1) terms); gradients vs central
     * differences of the reference in float64 (eps 1e-6; 2e-5 abs + 5e-4 rel as {@link AdapterCheck#gradients}).
     * Routing choices are piecewise constant, so the differences see them fixed unless a score tie sits within eps.
     */
    static void gradients(LoraMixture ad, MixtureRefs.MixRef ref, long seed) {
        var rnd = new SplittableRandom(seed);
        float[] x = AdapterCheck.floats(rnd, T * IC, 1), dy = AdapterCheck.floats(rnd, T * OC, 1);
        Supplier<String> ctx = () -> ad.method() + " seed=" + seed;
        for (Parameter p : ad.parameters()) {
            p.zeroGrad();
        }
        ad.drainStats();
        float[] y = new float[T * OC], dx = new float[T * IC];
        var saved = ad.forwardTrain(x, T, y, 0);
        ad.backward(x, T, dy, saved, dx);
        double aux = ad.drainStats().auxLoss;

        Map<String, double[]> p0 = AdapterCheck.tensors(ad);
        double[] xd = AdapterCheck.doubles(x), dyd = AdapterCheck.doubles(dy);
        var out = ref.apply(xd, T, p0);
        Approx.assertClose(out.delta(), y, 1e-5, 1e-4, () -> ctx.get() + ": forward");
        Approx.assertClose(out.aux(), aux, 1e-6, 1e-4, () -> ctx.get() + ": auxiliary loss");

        double eps = 1e-6;
        for (Parameter p : ad.parameters()) {
            double[] v = p0.get(p.name());
            double[] fd = new double[v.length];
            for (int i = 0; i < v.length; i++) {
                double keep = v[i];
                v[i] = keep + eps;
                double up = total(ref.apply(xd, T, p0), dyd);
                v[i] = keep - eps;
                double down = total(ref.apply(xd, T, p0), dyd);
                v[i] = keep;
                fd[i] = (up - down) / (2 * eps);
            }
            Approx.assertClose(fd, p.grad(), 2e-5, 5e-4, () -> ctx.get() + ": d" + p.name());
        }
        double[] fdx = new double[xd.length];
        for (int i = 0; i < xd.length; i++) {
            double keep = xd[i];
            xd[i] = keep + eps;
            double up = total(ref.apply(xd, T, p0), dyd);
            xd[i] = keep - eps;
            double down = total(ref.apply(xd, T, p0), dyd);
            xd[i] = keep;
            fdx[i] = (up - down) / (2 * eps);
        }
        Approx.assertClose(fdx, dx, 2e-5, 5e-4, () -> ctx.get() + ": dx");
    }

    private static double total(MixtureRefs.Out out, double[] dy) {
        return AdapterCheck.loss(dy, out.delta()) + out.aux();
    }

    @Test
    void loramoeGradientsIncludingTheBalancingConstraint() {
        for (long seed = 1; seed <= 3; seed++) {
            var ad = new LoraMoeAdapter(IC, OC, R, 4, 3f, 0f, 0.2f, 0.5f, "task");
            randomize(ad, new SplittableRandom(seed), 0.8);
            gradients(ad, MixtureRefs.mixture(IC, OC, R, 4, 3.0 / R, MixtureRefs.all(), false, null,
                    MixtureRefs.loramoeLbc(0.2, 0.5, true)), seed);
        }
    }

    @Test
    void molaGradientsIncludingTheLoadBalancingLoss() {
        for (long seed = 1; seed <= 3; seed++) {
            var ad = new MolaAdapter(IC, OC, R, 4, 3f, 0f, 2, 0.3f, "4");
            randomize(ad, new SplittableRandom(seed), 0.8);
            gradients(ad, MixtureRefs.mixture(IC, OC, R, 4, 3.0 / R, MixtureRefs.topK(2), true, null,
                    (probs, chosen, w, t, e) -> MixtureRefs.switchLoad(probs, chosen, t, t, e, 0.3)), seed);
        }
    }

    @Test
    void smoraGradientsWithASelectionBias() {
        for (long seed = 1; seed <= 3; seed++) {
            var ad = new SmoraAdapter(IC, OC, 5, 3f, 0f, 2, 0.1f);
            randomize(ad, new SplittableRandom(seed), 0.8);
            ad.updateBias(new long[] {9, 0, 3, 3, 0});       // bias = 0.1·sign(3 − load): +, −, 0 …
            double[] bias = AdapterCheck.doubles(ad.buffers().get("router.selection_bias"));
            assertEquals(-0.1, bias[0], 1e-7, "the busiest rank's bias goes down");
            gradients(ad, MixtureRefs.mixture(IC, OC, 1, 5, 3.0 / 5, MixtureRefs.topK(2), true, bias,
                    (probs, chosen, w, t, e) -> 0), seed);
        }
    }

    @Test
    void dynmoleGradientsIncludingBalanceAndTsallisLosses() {
        // router scale 0.8 gives a mix of confident (top-p) and uncertain (soft) tokens at threshold 0.97
        for (long seed = 1; seed <= 3; seed++) {
            var ad = new DynMoleAdapter(IC, OC, R, 4, 3f, 0f, 0.6f, 1, 1.1f, 0.97f, 0.2f, 0.3f);
            randomize(ad, new SplittableRandom(seed), 0.8);
            gradients(ad, MixtureRefs.mixture(IC, OC, R, 4, 3.0 / R, MixtureRefs.dynmole(0.6, 1, 1.1, 0.97), true,
                    null, MixtureRefs.dynmoleAux(0.2, 0.3, 1.1)), seed);
        }
    }

    @Test
    void loramoeConstraintOfUniformRoutingIsTheGroupImbalance() {
        // Zero router → ω = 1/E for every token, Q_e = T/E, Z = (1 ± δ)·T/E in two halves: μ = T/E, σ² = (δ·T/E)²,
        // so the loss is w·δ²·T/E exactly (closed form).
        var ad = new LoraMoeAdapter(IC, OC, R, 4, 3f, 0f, 0.2f, 0.5f, "world");
        var rnd = new SplittableRandom(3);
        float[] x = AdapterCheck.floats(rnd, T * IC, 1);
        ad.backward(x, T, new float[T * OC], ad.forwardTrain(x, T, new float[T * OC], 0), null);
        assertEquals(0.5 * 0.04 * T / 4, ad.drainStats().auxLoss, 1e-6);
    }

    @Test
    void molaGivesHigherLayersMoreExperts() {
        assertEquals(java.util.List.of(2, 4, 6, 8), counts("2,4,6,8", 4));
        assertEquals(java.util.List.of(2, 2, 4, 4, 6, 6, 8, 8), counts("2,4,6,8", 8));
        assertEquals(java.util.List.of(2, 2, 4, 6, 8), counts("2,4,6,8", 5));
        var e = assertThrows(IllegalArgumentException.class, () -> MolaAdapter.expertsOfLayer("2,x", 1, 2));
        assertTrue(e.getMessage().contains("experts_per_layer"), e.getMessage());
    }

    private static java.util.List<Integer> counts(String pattern, int layers) {
        var out = new java.util.ArrayList<Integer>();
        for (int l = 0; l < layers; l++) {
            out.add(MolaAdapter.expertsOfLayer(pattern, l, layers));
        }
        return out;
    }

    @Test
    void topKRoutesEveryTokenToExactlyKExpertsWithWeightsSummingToOne() {
        var ad = new MolaAdapter(IC, OC, R, 6, 3f, 0f, 2, 0f, "6");
        randomize(ad, new SplittableRandom(5), 1);
        float[] x = AdapterCheck.floats(new SplittableRandom(6), T * IC, 1);
        Routing r = ad.router.route(x, T, ExpertSelection.topK(2), null);
        for (int t = 0; t < T; t++) {
            int n = 0;
            double sum = 0;
            for (int e = 0; e < 6; e++) {
                n += r.chosen()[t * 6 + e] ? 1 : 0;
                sum += r.weights()[t * 6 + e];
            }
            assertEquals(2, n, "token " + t);
            assertEquals(1.0, sum, 1e-6, "token " + t);
        }
    }

    @Test
    void smoraBiasBalancesRankLoadWithoutALoss() {
        // A random router plus a strong preference for rank 0 on a constant feature; tokens differ in the others.
        var ad = new SmoraAdapter(IC, OC, 4, 3f, 0f, 1, 0.002f);
        randomize(ad, new SplittableRandom(8), 1);
        ad.router.gate().value()[0] = 6f;
        var rnd = new SplittableRandom(9);
        float[] x = new float[40 * IC];
        for (int i = 0; i < x.length; i++) {
            x[i] = i % IC == 0 ? 1f : (float) (rnd.nextDouble() * 2 - 1);
        }
        long[] before = load(ad, x);
        assertTrue(before[0] > 30, "before balancing rank 0 takes most tokens: " + java.util.Arrays.toString(before));
        // Sign updates oscillate by about one step of the rate around the balance, so judge the load summed over
        // the last 100 of 400 steps: every rank must carry a fair part (each 10–40 %, perfect balance is 25 %).
        long[] recent = new long[4];
        for (int step = 0; step < 400; step++) {
            long[] l = load(ad, x);
            ad.updateBias(l);
            for (int i = 0; step >= 300 && i < 4; i++) {
                recent[i] += l[i];
            }
        }
        for (int i = 0; i < 4; i++) {
            double share = recent[i] / (100.0 * 40);
            assertTrue(share > 0.1 && share < 0.4, "rank " + i + " share " + share + " after balancing, "
                    + java.util.Arrays.toString(recent));
        }
    }

    private static long[] load(SmoraAdapter ad, float[] x) {
        int n = x.length / IC;
        float[] y = new float[n * OC];
        ad.backward(x, n, y, ad.forwardTrain(x, n, y, 0), null);
        return ad.drainStats().chosen;
    }

    @Test
    void dynmoleRoutesUncertainTokensSoftlyAndConfidentOnesByTopP() {
        var ad = new DynMoleAdapter(IC, OC, R, 4, 3f, 0f, 0.75f, 2, 1.1f, 0.9f, 0f, 0f);
        float[] x = AdapterCheck.floats(new SplittableRandom(2), 2 * IC, 1);
        // zero router: uniform p, maximal entropy → all experts
        var sel = ad.selection();
        Routing soft = ad.router.route(x, 2, sel, null);
        assertEquals(4.0, soft.expertsPerToken(), 0);
        // a router that is sure of expert 3: top-p reaches 0.75 with expert 3 alone, keep_top_k adds the next one
        float[] gw = ad.router.gate().value();
        for (int i = 0; i < IC; i++) {
            gw[3 * IC + i] = 40 * x[i];
        }
        float[] x1 = java.util.Arrays.copyOf(x, IC);
        Routing sure = ad.router.route(x1, 1, sel, null);
        assertTrue(sure.probs()[3] > 0.9, "router is confident: " + sure.probs()[3]);
        assertEquals(2.0, sure.expertsPerToken(), 0);
        assertTrue(sure.chosen()[3]);
    }

    @Test
    void mixturesRoundTripAndRefuseToMerge() {
        var rnd = new SplittableRandom(4);
        LoraMixture[][] pairs = {
                {new LoraMoeAdapter(IC, OC, R, 4, 3f, 0f, 0.1f, 0.1f, "task"), new LoraMoeAdapter(IC, OC, R, 4, 3f, 0f, 0.1f, 0.1f, "task")},
                {new MolaAdapter(IC, OC, R, 3, 3f, 0f, 2, 0f, "3"), new MolaAdapter(IC, OC, R, 3, 3f, 0f, 2, 0f, "3")},
                {new SmoraAdapter(IC, OC, 5, 3f, 0f, 2, 0.1f), new SmoraAdapter(IC, OC, 5, 3f, 0f, 2, 0.1f)},
                {new DynMoleAdapter(IC, OC, R, 4, 3f, 0f, 0.75f, 2, 1.1f, 0.9f, 0.001f, 0.01f),
                        new DynMoleAdapter(IC, OC, R, 4, 3f, 0f, 0.75f, 2, 1.1f, 0.9f, 0.001f, 0.01f)}};
        for (LoraMixture[] p : pairs) {
            randomize(p[0], rnd, 0.8);
            if (p[0] instanceof SmoraAdapter s) {
                s.updateBias(new long[] {1, 2, 3, 4, 5});
            }
            AdapterCheck.stateRoundTrip(p[0], p[1], T, 9);
            var e = assertThrows(UnsupportedOperationException.class, () -> p[0].mergeInto(new float[OC * IC]));
            assertTrue(e.getMessage().contains("cannot be merged"), e.getMessage());
        }
    }

    /** MeteoRA over {@code n} random pre-trained LoRAs of ranks 1, 2, …: the experts are frozen buffers. */
    static MeteoraAdapter meteora(int n, int topK, SplittableRandom rnd) {
        var m = new MeteoraAdapter(IC, OC, n, n, topK);
        for (int a = 0; a < n; a++) {
            var l = new LoraAdapter(IC, OC, a + 1, 2f, 0f, false);
            randomize(l, rnd, 0.8);
            m.setAdapter(a, l);
        }
        return m;
    }

    @Test
    void meteoraGateGradientsWithFrozenAdapters() {
        for (long seed = 1; seed <= 3; seed++) {
            var rnd = new SplittableRandom(seed);
            var ad = meteora(3, 2, rnd);
            randomize(ad, rnd, 1.5);     // the gate only: the adapters are buffers
            assertEquals(1, ad.parameters().size(), "only the gate trains");
            assertEquals(6, ad.buffers().size(), "A and B of 3 frozen adapters");
            gradients(ad, MixtureRefs.mixture(IC, OC, 3, 3, 1.0, MixtureRefs.topK(2), true, null,
                    (probs, chosen, w, t, e) -> 0), seed);
        }
    }

    @Test
    void meteoraSwitchesAdaptersWithinOneSequence() {
        // Gate: adapter 0 for tokens whose first feature is positive, adapter 1 otherwise (top-1). A sequence whose
        // tokens alternate gets, token by token, exactly the chosen adapter's own LoRA output (fp32, 1e-6).
        var rnd = new SplittableRandom(21);
        var loras = new LoraAdapter[2];
        var ad = new MeteoraAdapter(IC, OC, 2, 2, 1);
        for (int a = 0; a < 2; a++) {
            loras[a] = new LoraAdapter(IC, OC, 2, 4f, 0f, false);
            randomize(loras[a], rnd, 0.8);
            ad.setAdapter(a, loras[a]);
        }
        float[] gate = ad.router.gate().value();
        gate[0] = 8f;          // row 0, feature 0
        gate[IC] = -8f;        // row 1, feature 0
        float[] x = AdapterCheck.floats(rnd, T * IC, 1);
        for (int t = 0; t < T; t++) {
            x[t * IC] = t % 2 == 0 ? 1f : -1f;
        }
        float[] y = new float[T * OC];
        ad.forward(x, T, y);
        for (int t = 0; t < T; t++) {
            int want = t % 2 == 0 ? 0 : 1;
            float[] xt = java.util.Arrays.copyOfRange(x, t * IC, (t + 1) * IC), yt = new float[OC];
            loras[want].forward(xt, 1, yt);
            for (int o = 0; o < OC; o++) {
                assertEquals(yt[o], y[t * OC + o], 1e-6, "token " + t + " uses adapter " + want);
            }
        }
        Routing r = ad.router.route(x, T, ad.selection(), null);
        assertTrue(r.chosen()[0] && r.chosen()[1 * 2 + 1] && r.chosen()[2 * 2], "the choice alternates along the sequence");
    }
}
