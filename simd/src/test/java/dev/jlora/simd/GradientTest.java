package dev.jlora.simd;

import static dev.jlora.simd.testing.Approx.assertClose;

import dev.jlora.simd.ref.LayersRef;
import dev.jlora.simd.testing.Rand;
import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every backward twice: (1) the float64 reference in {@link LayersRef} against central differences of its own
 * forward, loss = Σ g·forward(x) with random g; (2) each float kernel against that reference.
 */
class GradientTest {
    /** Central differences in double with h = 1e-6 have error about h² · f''' + ulp(f)/h ≈ 1e-10 here. */
    static final double FD_H = 1e-6, FD_TOL = 1e-7;
    /** Float kernel vs float64 reference: a few float roundings on O(1) values. */
    static final double F32_ABS = 2e-6, F32_REL = 2e-5;

    static double[] numericGrad(double[] x, ToDoubleFunction<double[]> loss) {
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double keep = x[i];
            x[i] = keep + FD_H;
            double up = loss.applyAsDouble(x);
            x[i] = keep - FD_H;
            double down = loss.applyAsDouble(x);
            x[i] = keep;
            g[i] = (up - down) / (2 * FD_H);
        }
        return g;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    static float[] f(double[] a) {
        return Rand.toFloats(a);
    }

    // ---------------------------------------------------------------- RMSNorm

    @Test
    void rmsNorm() {
        int T = 3, C = 11;
        double eps = 1e-5;
        var rnd = new SplittableRandom(11);
        double[] x = Rand.doubles(rnd, T * C), w = Rand.doubles(rnd, C, 0.5, 1.5), g = Rand.doubles(rnd, T * C);
        var ref = LayersRef.rmsNormBackward(g, x, w, T, C, eps);
        assertClose(numericGrad(x, xx -> dot(g, LayersRef.rmsNormForward(xx, w, T, C, eps))), ref.dx(),
                FD_TOL, FD_TOL, () -> "rmsNorm ref dx vs finite differences");
        assertClose(numericGrad(w, ww -> dot(g, LayersRef.rmsNormForward(x, ww, T, C, eps))), ref.dweight(),
                FD_TOL, FD_TOL, () -> "rmsNorm ref dweight vs finite differences");

        double[] out = LayersRef.rmsNormForward(x, w, T, C, eps);
        for (VectorOps ops : KernelTesting.implementations()) {
            float[] fo = new float[T * C], rstd = new float[T];
            ops.rmsNormForward(fo, rstd, f(x), f(w), T, C, (float) eps);
            assertClose(out, fo, F32_ABS, F32_REL, () -> ops.name() + " rmsNormForward");
            float[] dx = new float[T * C], dw = new float[C];
            java.util.Arrays.fill(dw, 0.25f);   // accumulated: must add onto what is there
            ops.rmsNormBackward(dx, dw, f(g), f(x), f(w), rstd, T, C);
            double[] wantDw = ref.dweight().clone();
            for (int c = 0; c < C; c++) {
                wantDw[c] += 0.25;
            }
            assertClose(ref.dx(), dx, F32_ABS, F32_REL, () -> ops.name() + " rmsNormBackward dx");
            assertClose(wantDw, dw, F32_ABS, F32_REL, () -> ops.name() + " rmsNormBackward dweight (+=)");
        }
    }

    // ---------------------------------------------------------------- softmax

    @Test
    void softmaxWithAndWithoutMask() {
        var rnd = new SplittableRandom(12);
        int n = 9;
        for (int len : new int[] {1, 4, 9}) {
            double[] x = Rand.doubles(rnd, n, -3, 3), g = Rand.doubles(rnd, n);
            double[] ref = LayersRef.softmaxBackward(g, x, n, len);
            assertClose(numericGrad(x, xx -> dot(g, LayersRef.softmax(xx, n, len))), ref, FD_TOL, FD_TOL,
                    () -> "softmax ref dx vs finite differences, len=" + len);
            double[] y = LayersRef.softmax(x, n, len);
            for (VectorOps ops : KernelTesting.implementations()) {
                float[] fx = f(x), fy = new float[n + 2], dx = new float[n + 1];
                java.util.Arrays.fill(fy, 7f);
                java.util.Arrays.fill(dx, 7f);
                ops.softmaxForward(fy, 2, fx, 0, n, len);
                float[] yOut = java.util.Arrays.copyOfRange(fy, 2, 2 + n);
                assertClose(y, yOut, F32_ABS, F32_REL, () -> ops.name() + " softmaxForward len=" + len);
                ops.softmaxBackward(dx, 1, f(g), 0, fy, 2, n, len);
                assertClose(ref, java.util.Arrays.copyOfRange(dx, 1, 1 + n), F32_ABS, F32_REL,
                        () -> ops.name() + " softmaxBackward len=" + len);
                assertClose(7f, dx[0], 0, 0, () -> ops.name() + " softmaxBackward wrote before its offset");
            }
        }
    }

    // ---------------------------------------------------------------- SiLU, SwiGLU

    @Test
    void silu() {
        var rnd = new SplittableRandom(13);
        int n = 37;
        double[] x = Rand.doubles(rnd, n, -6, 6), g = Rand.doubles(rnd, n);
        double[] ref = LayersRef.siluBackward(g, x);
        assertClose(numericGrad(x, xx -> dot(g, LayersRef.silu(xx))), ref, FD_TOL, FD_TOL,
                () -> "silu ref vs finite differences");
        for (VectorOps ops : KernelTesting.implementations()) {
            float[] y = new float[n], dx = new float[n];
            ops.siluForward(y, f(x), n);
            assertClose(LayersRef.silu(x), y, F32_ABS, F32_REL, () -> ops.name() + " siluForward");
            ops.siluBackward(dx, f(g), f(x), n);
            assertClose(ref, dx, F32_ABS, F32_REL, () -> ops.name() + " siluBackward");
        }
    }

    @Test
    void swiglu() {
        var rnd = new SplittableRandom(14);
        int n = 37;
        double[] gate = Rand.doubles(rnd, n, -6, 6), up = Rand.doubles(rnd, n, -2, 2), g = Rand.doubles(rnd, n);
        var ref = LayersRef.swigluBackward(g, gate, up);
        assertClose(numericGrad(gate, gg -> dot(g, LayersRef.swiglu(gg, up))), ref.dgate(), FD_TOL, FD_TOL,
                () -> "swiglu ref dgate vs finite differences");
        assertClose(numericGrad(up, uu -> dot(g, LayersRef.swiglu(gate, uu))), ref.dup(), FD_TOL, FD_TOL,
                () -> "swiglu ref dup vs finite differences");
        for (VectorOps ops : KernelTesting.implementations()) {
            float[] y = new float[n], dg = new float[n], du = new float[n];
            ops.swigluForward(y, f(gate), f(up), n);
            assertClose(LayersRef.swiglu(gate, up), y, F32_ABS, F32_REL, () -> ops.name() + " swigluForward");
            ops.swigluBackward(dg, du, f(g), f(gate), f(up), n);
            assertClose(ref.dgate(), dg, F32_ABS, F32_REL, () -> ops.name() + " swigluBackward dgate");
            assertClose(ref.dup(), du, F32_ABS, F32_REL, () -> ops.name() + " swigluBackward dup");
        }
    }

    // ---------------------------------------------------------------- RoPE

    @ParameterizedTest
    @EnumSource(RopeLayout.class)
    void rope(RopeLayout layout) {
        var rnd = new SplittableRandom(15);
        int T = 3, H = 2, hs = 40;   // hs/2 = 20: one 16-lane vector plus a tail, and hs itself not a multiple of 16
        int[] pos = {0, 7, 300};
        double theta = 10000;
        double[] x = Rand.doubles(rnd, T * H * hs), g = Rand.doubles(rnd, T * H * hs);
        double[] ref = LayersRef.ropeBackward(g, T, H, hs, pos, theta, layout);
        assertClose(numericGrad(x, xx -> dot(g, LayersRef.rope(xx, T, H, hs, pos, theta, layout))), ref,
                FD_TOL, FD_TOL, () -> "rope ref vs finite differences " + layout);
        // Angles up to 300 rad: the float table entry is within ulp(1) of cos(angle), so values differ by ~1e-7.
        double[] y = LayersRef.rope(x, T, H, hs, pos, theta, layout);
        var tab = RopeTables.of(301, hs, theta);
        for (VectorOps ops : KernelTesting.implementations()) {
            float[] fx = f(x);
            ops.ropeForward(fx, T, H, hs, pos, tab, layout);
            assertClose(y, fx, F32_ABS, F32_REL, () -> ops.name() + " ropeForward " + layout);
            float[] fg = f(g);
            ops.ropeBackward(fg, T, H, hs, pos, tab, layout);
            assertClose(ref, fg, F32_ABS, F32_REL, () -> ops.name() + " ropeBackward " + layout);
            float[] viaTheta = f(x);
            ops.ropeForward(viaTheta, T, H, hs, pos, theta, layout);
            assertClose(y, viaTheta, F32_ABS, F32_REL, () -> ops.name() + " ropeForward(theta) " + layout);
        }
    }

    @Test
    void ropeLayoutsAreOnePermutationApart() {
        // GGUF "llama" (interleaved) on channels permuted (2i, 2i+1) -> (i, i + hs/2) equals HF half-split.
        var rnd = new SplittableRandom(16);
        int T = 2, H = 1, hs = 8;
        int[] pos = {3, 5};
        double[] x = Rand.doubles(rnd, T * hs), perm = new double[T * hs];
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < hs / 2; i++) {
                perm[t * hs + 2 * i] = x[t * hs + i];
                perm[t * hs + 2 * i + 1] = x[t * hs + i + hs / 2];
            }
        }
        double[] half = LayersRef.rope(x, T, H, hs, pos, 10000, RopeLayout.HALF_SPLIT);
        double[] inter = LayersRef.rope(perm, T, H, hs, pos, 10000, RopeLayout.INTERLEAVED);
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < hs / 2; i++) {
                assertClose(half[t * hs + i], inter[t * hs + 2 * i], 1e-12, 0, "a of pair " + i);
                assertClose(half[t * hs + i + hs / 2], inter[t * hs + 2 * i + 1], 1e-12, 0, "b of pair " + i);
            }
        }
    }

    // ---------------------------------------------------------------- cross-entropy

    @Test
    void crossEntropy() {
        var rnd = new SplittableRandom(17);
        int T = 4, V = 19;
        int[] targets = {3, -1, 18, 0};
        double[] logits = Rand.doubles(rnd, T * V, -4, 4);
        double dscale = 1.0 / 3;
        double[] ref = LayersRef.crossEntropyBackward(logits, targets, T, V, dscale);
        assertClose(numericGrad(logits, l -> dscale * LayersRef.crossEntropy(l, targets, T, V)), ref, FD_TOL,
                FD_TOL, () -> "cross-entropy ref vs finite differences");
        double loss = LayersRef.crossEntropy(logits, targets, T, V);
        for (VectorOps ops : KernelTesting.implementations()) {
            float[] fl = f(logits), d = new float[T * V];
            assertClose(loss, ops.crossEntropyLoss(fl, targets, T, V), 1e-5, 1e-6,
                    () -> ops.name() + " crossEntropyLoss");
            assertClose(loss, ops.crossEntropyForwardBackward(d, fl, targets, T, V, (float) dscale), 1e-5, 1e-6,
                    () -> ops.name() + " crossEntropyForwardBackward loss");
            assertClose(ref, d, F32_ABS, F32_REL, () -> ops.name() + " crossEntropy dlogits");
            ops.crossEntropyForwardBackward(fl, fl, targets, T, V, (float) dscale);   // in place
            assertClose(ref, fl, F32_ABS, F32_REL, () -> ops.name() + " crossEntropy dlogits in place");
        }
    }
}
