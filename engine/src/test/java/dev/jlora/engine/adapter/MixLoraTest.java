package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.ref.F32Matrix;
import dev.jlora.simd.testing.Approx;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * MixLoRA's FFN mixture against a float64 reference written from the paper's equations (§3.1–3.2): forward, the
 * load-balancing loss, and the gradients of dout·out + aux for the router, every expert's gate/up/down LoRA and the
 * input by central differences; plus the defining property that with zero LoRA deltas the mixture is the frozen FFN.
 */
class MixLoraTest {
    static final int C = 4, F = 6, R = 2, E = 3, K = 2, T = 6;
    static final float ALPHA = 3f, AUX = 0.3f;

    static LlamaWeights.Layer layer(SplittableRandom rnd) {
        return new LlamaWeights.Layer(null, null, null, null, null, null, null, null, null,
                new F32Matrix(F, C, AdapterCheck.floats(rnd, F * C, 0.8)), new F32Matrix(F, C, AdapterCheck.floats(rnd, F * C, 0.8)),
                new F32Matrix(C, F, AdapterCheck.floats(rnd, C * F, 0.8)));
    }

    static double silu(double g) {
        return g / (1 + Math.exp(-g));
    }

    /** y [n × OC] = x·Wᵀ + s·(x·Aᵀ)·Bᵀ for the LoRA named {@code pre} (x [n × IC]). */
    static double[] loraLinear(double[] x, int n, double[] w, Map<String, double[]> p, String pre, int IC, int OC) {
        double[] a = p.get(pre + ".lora_A"), b = p.get(pre + ".lora_B");
        double s = ALPHA / R;
        double[] y = VariantRefs.abt(x, w, n, OC, IC);
        double[] d = VariantRefs.abt(VariantRefs.abt(x, a, n, R, IC), b, n, OC, R);
        for (int i = 0; i < y.length; i++) {
            y[i] += s * d[i];
        }
        return y;
    }

    /** out_t = Σ_{e ∈ top-k} ŵ_e·FFN_e(x_t) and the load-balancing loss, in float64. */
    static MixtureRefs.Out reference(double[] x, Map<String, double[]> p, double[] wg, double[] wu, double[] wd) {
        double[] gate = p.get("router.weight");
        double[] out = new double[T * C], probs = new double[T * E];
        boolean[] chosen = new boolean[T * E];
        for (int t = 0; t < T; t++) {
            double[] xt = java.util.Arrays.copyOfRange(x, t * C, (t + 1) * C);
            double[] logit = VariantRefs.abt(xt, gate, 1, E, C);
            double max = Double.NEGATIVE_INFINITY, z = 0;
            for (double v : logit) {
                max = Math.max(max, v);
            }
            double[] pt = new double[E];
            for (int e = 0; e < E; e++) {
                pt[e] = Math.exp(logit[e] - max);
                z += pt[e];
            }
            for (int e = 0; e < E; e++) {
                pt[e] /= z;
                probs[t * E + e] = pt[e];
            }
            boolean[] c = MixtureRefs.top(pt, K);
            double mass = 0;
            for (int e = 0; e < E; e++) {
                mass += c[e] ? pt[e] : 0;
            }
            for (int e = 0; e < E; e++) {
                if (!c[e]) {
                    continue;
                }
                chosen[t * E + e] = true;
                String pre = "experts." + e + ".";
                double[] g = loraLinear(xt, 1, wg, p, pre + "gate_proj", C, F);
                double[] u = loraLinear(xt, 1, wu, p, pre + "up_proj", C, F);
                double[] act = new double[F];
                for (int i = 0; i < F; i++) {
                    act[i] = silu(g[i]) * u[i];
                }
                double[] d = loraLinear(act, 1, wd, p, pre + "down_proj", F, C);
                for (int o = 0; o < C; o++) {
                    out[t * C + o] += pt[e] / mass * d[o];
                }
            }
        }
        return new MixtureRefs.Out(out, MixtureRefs.switchLoad(probs, chosen, T, T, E, AUX));
    }

    @Test
    void gradientsOfExpertsRouterInputAndBalancingLoss() {
        for (long seed = 1; seed <= 2; seed++) {
            var rnd = new SplittableRandom(seed);
            var lw = layer(rnd);
            var ad = new MixLoraAdapter(C, F, R, E, K, ALPHA, 0f, AUX);
            MixtureTest.randomize(ad, rnd, 0.7);
            float[] x = AdapterCheck.floats(rnd, T * C, 1), dout = AdapterCheck.floats(rnd, T * C, 1);
            for (Parameter p : ad.parameters()) {
                p.zeroGrad();
            }
            float[] out = new float[T * C], dx = new float[T * C];
            var saved = ad.forwardFfnTrain(lw, x, T, out, 0);
            ad.backwardFfn(lw, x, T, dout, saved, dx);
            double aux = ad.drainStats().auxLoss;

            double[] wg = AdapterCheck.doubles(((F32Matrix) lw.wGate()).w()), wu = AdapterCheck.doubles(((F32Matrix) lw.wUp()).w()),
                    wd = AdapterCheck.doubles(((F32Matrix) lw.wDown()).w());
            var p0 = new java.util.LinkedHashMap<String, double[]>();
            for (Parameter p : ad.parameters()) {
                p0.put(p.name(), AdapterCheck.doubles(p.value()));
            }
            double[] xd = AdapterCheck.doubles(x), dd = AdapterCheck.doubles(dout);
            var ref = reference(xd, p0, wg, wu, wd);
            long s = seed;
            // fp32 vs float64: sums of ≤ 10 O(1) terms through two layers; 1e-5 abs + 1e-4 rel
            Approx.assertClose(ref.delta(), out, 1e-5, 1e-4, () -> "forward seed=" + s);
            Approx.assertClose(ref.aux(), aux, 1e-6, 1e-4, () -> "aux seed=" + s);
            double eps = 1e-6;
            for (Parameter p : ad.parameters()) {
                double[] v = p0.get(p.name());
                double[] fd = new double[v.length];
                for (int i = 0; i < v.length; i++) {
                    double keep = v[i];
                    v[i] = keep + eps;
                    double up = total(reference(xd, p0, wg, wu, wd), dd);
                    v[i] = keep - eps;
                    double down = total(reference(xd, p0, wg, wu, wd), dd);
                    v[i] = keep;
                    fd[i] = (up - down) / (2 * eps);
                }
                // as AdapterCheck: 2e-5 abs + 5e-4 rel against float64 central differences (eps 1e-6)
                Approx.assertClose(fd, p.grad(), 2e-5, 5e-4, () -> "d" + p.name() + " seed=" + s);
            }
            double[] fdx = new double[xd.length];
            for (int i = 0; i < xd.length; i++) {
                double keep = xd[i];
                xd[i] = keep + eps;
                double up = total(reference(xd, p0, wg, wu, wd), dd);
                xd[i] = keep - eps;
                double down = total(reference(xd, p0, wg, wu, wd), dd);
                xd[i] = keep;
                fdx[i] = (up - down) / (2 * eps);
            }
            Approx.assertClose(fdx, dx, 2e-5, 5e-4, () -> "dx seed=" + s);
        }
    }

    private static double total(MixtureRefs.Out o, double[] dout) {
        return AdapterCheck.loss(dout, o.delta()) + o.aux();
    }

    @Test
    void withZeroDeltasTheMixtureIsTheFrozenFfn() {
        // Every expert is the frozen FFN when its LoRA B are zero (the initialisation), and the top-k weights sum to
        // 1: the mixture reproduces W_down·(silu(W_gate·x) ⊙ W_up·x). fp32, same sums: 1e-6 abs + 1e-5 rel.
        var rnd = new SplittableRandom(3);
        var lw = layer(rnd);
        var ad = new MixLoraAdapter(C, F, R, E, K, ALPHA, 0f, AUX);
        ad.initialize(rnd);
        float[] x = AdapterCheck.floats(rnd, T * C, 1);
        float[] g = new float[T * F], u = new float[T * F], act = new float[T * F], want = new float[T * C];
        lw.wGate().matmul(x, T, g);
        lw.wUp().matmul(x, T, u);
        MixLoraAdapter.swiglu(act, g, u);
        lw.wDown().matmul(act, T, want);
        float[] got = new float[T * C];
        ad.forwardFfn(lw, x, T, got);
        Approx.assertClose(AdapterCheck.doubles(want), got, 1e-6, 1e-5, () -> "mixture at init vs frozen FFN");
        var e = assertThrows(UnsupportedOperationException.class, () -> ad.forward(x, T, new float[T * C]));
        assertTrue(e.getMessage().contains("whole FFN"), e.getMessage());
        assertThrows(UnsupportedOperationException.class, () -> ad.mergeInto(new float[C * F]));
        assertEquals(1 + 3 * 2 * E, ad.parameters().size(), "router + A, B of gate/up/down per expert");
    }
}
