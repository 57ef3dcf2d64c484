package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.simd.testing.Approx;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * X-LoRA's scaled forward and the scaling head's gradient against a float64 reference of Eq. 1–3:
 * λ_t = softmax((h_t·Wᵀ + b)/τ), Δ(x_t) = Σ_a λ_t,a·s_a·B_a·A_a·x_t, with h fixed (the scaling pass has no gradient).
 * Central differences (eps 1e-6) of dy·Δ for W, b and x; experts of ranks 1 and 2 (zero-padded to 2).
 */
class XLoraGradientTest {
    static final int IC = 4, OC = 3, CM = 5, N = 3, T = 5;
    static final double TAU = 0.7;

    static double[] reference(double[] x, double[] h, double[] w, double[] b, LoraAdapter[] ex) {
        double[] y = new double[T * OC];
        for (int t = 0; t < T; t++) {
            double[] z = new double[N];
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int a = 0; a < N; a++) {
                z[a] = b[a];
                for (int c = 0; c < CM; c++) {
                    z[a] += h[t * CM + c] * w[a * CM + c];
                }
                z[a] /= TAU;
                max = Math.max(max, z[a]);
            }
            for (int a = 0; a < N; a++) {
                z[a] = Math.exp(z[a] - max);
                sum += z[a];
            }
            for (int a = 0; a < N; a++) {
                LoraAdapter l = ex[a];
                int r = l.rank();
                double[] xt = java.util.Arrays.copyOfRange(x, t * IC, (t + 1) * IC);
                double[] d = VariantRefs.abt(VariantRefs.abt(xt, AdapterCheck.doubles(l.loraA().value()), 1, r, IC),
                        AdapterCheck.doubles(l.loraB().value()), 1, OC, r);
                for (int o = 0; o < OC; o++) {
                    y[t * OC + o] += z[a] / sum * l.scale() * d[o];
                }
            }
        }
        return y;
    }

    @Test
    void headAndInputGradientsMatchFiniteDifferences() {
        var rnd = new SplittableRandom(11);
        var model = new XLoraModel(1, CM, N, (float) TAU);
        model.initialize(rnd);
        var ad = new XLoraAdapter(model, 0, IC, OC, 2, true);
        var ex = new LoraAdapter[N];
        for (int a = 0; a < N; a++) {
            ex[a] = new LoraAdapter(IC, OC, a == 1 ? 1 : 2, 3f, 0f, false);
            MixtureTest.randomize(ex[a], rnd, 0.8);
            ad.setExpert(a, ex[a]);
        }
        float[] h = AdapterCheck.floats(rnd, T * CM, 1), x = AdapterCheck.floats(rnd, T * IC, 1),
                dy = AdapterCheck.floats(rnd, T * OC, 1);
        model.setHidden(h, T);
        float[] y = new float[T * OC], dx = new float[T * IC];
        ad.backward(x, T, dy, ad.forwardTrain(x, T, y, 0), dx);
        model.backwardHead();

        Parameter w = ad.parameters().get(0), b = ad.parameters().get(1);
        double[] xd = AdapterCheck.doubles(x), hd = AdapterCheck.doubles(h), wd = AdapterCheck.doubles(w.value()),
                bd = AdapterCheck.doubles(b.value()), dyd = AdapterCheck.doubles(dy);
        // fp32 vs float64, sums of ≤ 10 O(1) terms: 1e-5 abs + 1e-4 rel; gradients 2e-5 abs + 5e-4 rel (as AdapterCheck)
        Approx.assertClose(reference(xd, hd, wd, bd, ex), y, 1e-5, 1e-4, () -> "x-lora forward");
        double eps = 1e-6;
        for (double[][] pv : new double[][][] {{wd, AdapterCheck.doubles(w.grad())}, {bd, AdapterCheck.doubles(b.grad())},
                {xd, AdapterCheck.doubles(dx)}}) {
            double[] v = pv[0], fd = new double[v.length];
            for (int i = 0; i < v.length; i++) {
                double keep = v[i];
                v[i] = keep + eps;
                double up = AdapterCheck.loss(dyd, reference(xd, hd, wd, bd, ex));
                v[i] = keep - eps;
                double down = AdapterCheck.loss(dyd, reference(xd, hd, wd, bd, ex));
                v[i] = keep;
                fd[i] = (up - down) / (2 * eps);
            }
            float[] got = new float[pv[1].length];
            for (int i = 0; i < got.length; i++) {
                got[i] = (float) pv[1][i];
            }
            Approx.assertClose(fd, got, 2e-5, 5e-4, () -> "x-lora gradient");
        }
        assertEquals(2, ad.parameters().size(), "the head's rows are the only parameters");
        var scalingPass = new float[T * OC];
        model.setScalingPass(true);
        ad.forward(x, T, scalingPass);
        model.setScalingPass(false);
        assertTrue(java.util.Arrays.equals(new float[T * OC], scalingPass), "the scaling pass adds nothing");
        var e = assertThrows(IllegalStateException.class, () -> ad.forward(x, T - 1, new float[(T - 1) * OC]));
        assertTrue(e.getMessage().contains("scaling pass"), e.getMessage());
    }
}
