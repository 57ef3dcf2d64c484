package dev.jlora.simd;

import static dev.jlora.simd.testing.Approx.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.jlora.simd.testing.Rand;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * PanamaOps against ScalarOps on sizes that are not multiples of any vector length. Tolerances: summation order
 * differs (n·ulp(1)·Σ|terms|), FMA skips one rounding (ulp), and the vector {@code exp} is within a few ulp of
 * {@link Math#exp} (so element-wise transcendental results are compared with rel 4e-6 ≈ 32 ulp).
 */
class PanamaMatchesScalarTest {
    static final ScalarOps S = ScalarOps.INSTANCE;
    static final double ULP1 = Math.ulp(1f);
    static final double EXP_REL = 4e-6, EXP_ABS = 1e-7;
    VectorOps p;

    @BeforeEach
    void panama() {
        p = KernelTesting.panamaOrNull();
        assumeTrue(p != null, KernelTesting.NO_PANAMA);
    }

    static MemorySegment le(Arena arena, float[] v, long byteOff) {
        MemorySegment seg = arena.allocate(byteOff + 4L * v.length);
        for (int i = 0; i < v.length; i++) {
            seg.set(ScalarOps.F32_LE, byteOff + 4L * i, v[i]);
        }
        return seg;
    }

    static MemorySegment halfs(Arena arena, short[] v, long byteOff) {
        MemorySegment seg = arena.allocate(byteOff + 2L * v.length);
        for (int i = 0; i < v.length; i++) {
            seg.set(ScalarOps.S16_LE, byteOff + 2L * i, v[i]);
        }
        return seg;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 5, 16, 17, 48, 64, 100})
    void gemvTMatchesScalar(int k) {
        // m from 1 to past two vectors with odd tails; stride wider than m (a head's slice of a KV page) and offsets
        var rnd = new SplittableRandom(700 + k);
        for (int m : new int[] {1, 7, 16, 33, 64}) {
            int stride = m + 5, aOff = 3, xOff = 2, yOff = 1;
            float[] a = Rand.floats(rnd, aOff + k * stride), x = Rand.floats(rnd, xOff + k), y = Rand.floats(rnd, yOff + m + 2);
            float[] want = y.clone(), got = y.clone();
            S.gemvT(0.7f, x, xOff, a, aOff, stride, k, m, want, yOff);
            p.gemvT(0.7f, x, xOff, a, aOff, stride, k, m, got, yOff);
            for (int j = 0; j < y.length; j++) {
                double abs = Math.abs(y[j]);
                if (j >= yOff && j < yOff + m) {
                    for (int i = 0; i < k; i++) {
                        abs += 0.7 * Math.abs(x[xOff + i] * a[aOff + i * stride + j - yOff]);
                    }
                }
                int fj = j, fm = m;
                assertClose(want[j], got[j], (k + 2) * ULP1 * abs, 0, () -> "gemvT k=" + k + " m=" + fm + " y[" + fj + "]");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 7, 8, 15, 17, 33, 100, 1023, 4099})
    void segmentKernels(int n) {
        var rnd = new SplittableRandom(300 + n);
        float[] a = Rand.floats(rnd, n), b = Rand.floats(rnd, n + 1), y = Rand.floats(rnd, n + 1);
        short[] h = new short[n], bf = new short[n];
        S.f32ToF16(a, 0, h, 0, n);
        S.f32ToBf16(a, 0, bf, 0, n);
        float[] ah = new float[n], abf = new float[n];
        S.f16ToF32(h, 0, ah, 0, n);
        S.bf16ToF32(bf, 0, abf, 0, n);
        try (var arena = Arena.ofConfined()) {
            long off = 3;   // unaligned on purpose: safetensors data need not be aligned
            MemorySegment sa = le(arena, a, off), sh = halfs(arena, h, off), sbf = halfs(arena, bf, off);
            double bound = 2 * n * ULP1 * Rand.sumAbsProducts(a, Arrays.copyOfRange(b, 1, n + 1), n);
            float want = S.dot(a, 0, b, 1, n);
            assertClose(want, S.dot(sa, off, b, 1, n), 0, 0, () -> "scalar segment dot = array dot, n=" + n);
            assertClose(want, p.dot(sa, off, b, 1, n), bound, 0, () -> "dot(segment) n=" + n);
            assertClose(S.dot(ah, 0, b, 1, n), p.dotF16(sh, off, b, 1, n), bound, 0, () -> "dotF16 n=" + n);
            assertClose(S.dot(abf, 0, b, 1, n), p.dotBf16(sbf, off, b, 1, n), bound, 0, () -> "dotBf16 n=" + n);
            assertClose(S.dotF16(sh, off, b, 1, n), p.dotF16(sh, off, b, 1, n), bound, 0, () -> "dotF16 n=" + n);

            float[] y1 = y.clone(), y2 = y.clone();
            S.axpy(0.3f, sa, off, y1, 1, n);
            p.axpy(0.3f, sa, off, y2, 1, n);
            assertClose(y1, y2, 2 * ULP1, 2 * ULP1, () -> "axpy(segment) n=" + n);
            y1 = y.clone();
            y2 = y.clone();
            S.axpyF16(-2f, sh, off, y1, 0, n);
            p.axpyF16(-2f, sh, off, y2, 0, n);
            assertClose(y1, y2, 4 * ULP1, 2 * ULP1, () -> "axpyF16 n=" + n);
            y1 = y.clone();
            y2 = y.clone();
            S.axpyBf16(1.5f, sbf, off, y1, 1, n);
            p.axpyBf16(1.5f, sbf, off, y2, 1, n);
            assertClose(y1, y2, 4 * ULP1, 2 * ULP1, () -> "axpyBf16 n=" + n);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 7, 8, 15, 17, 33, 100, 1023, 4099})
    void rmsNorm(int C) {
        var rnd = new SplittableRandom(400 + C);
        int T = 3;
        float[] x = Rand.floats(rnd, T * C, -3, 3), w = Rand.floats(rnd, C, 0.5f, 1.5f), dout = Rand.floats(rnd, T * C);
        float[] o1 = new float[T * C], o2 = new float[T * C], r1 = new float[T], r2 = new float[T];
        S.rmsNormForward(o1, r1, x, w, T, C, 1e-5f);
        p.rmsNormForward(o2, r2, x, w, T, C, 1e-5f);
        // Σx² over C terms in another order: relative error ≤ C·ulp(1); rstd inherits half of it.
        double rel = C * ULP1 + 4 * ULP1;
        assertClose(r1, r2, 0, rel, () -> "rstd C=" + C);
        assertClose(o1, o2, 1e-7, rel, () -> "rmsNormForward C=" + C);
        float[] dx1 = new float[T * C], dx2 = new float[T * C], dw1 = new float[C], dw2 = new float[C];
        S.rmsNormBackward(dx1, dw1, dout, x, w, r1, T, C);
        p.rmsNormBackward(dx2, dw2, dout, x, w, r1, T, C);
        // dx = r·g − k·x with k from a C-term sum: absolute error scales with |k·x| ~ rstd³·Σ|g·x|/C·|x|.
        assertClose(dx1, dx2, C * ULP1 * 10, 4 * ULP1, () -> "rmsNormBackward dx C=" + C);
        assertClose(dw1, dw2, 1e-6, 4 * ULP1, () -> "rmsNormBackward dweight C=" + C);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 7, 8, 15, 17, 33, 100, 1023, 4099})
    void softmax(int n) {
        var rnd = new SplittableRandom(500 + n);
        float[] x = Rand.floats(rnd, n, -8, 8), dy = Rand.floats(rnd, n);
        for (int len : new int[] {1, (n + 1) / 2, n}) {
            float[] y1 = new float[n], y2 = new float[n];
            S.softmaxForward(y1, 0, x, 0, n, len);
            p.softmaxForward(y2, 0, x, 0, n, len);
            double rel = EXP_REL + len * ULP1;   // each entry divided by a len-term sum
            int fLen = len;
            assertClose(y1, y2, EXP_ABS, rel, () -> "softmaxForward n=" + n + " len=" + fLen);
            float[] d1 = new float[n], d2 = new float[n];
            S.softmaxBackward(d1, 0, dy, 0, y1, 0, n, len);
            p.softmaxBackward(d2, 0, dy, 0, y1, 0, n, len);
            assertClose(d1, d2, len * ULP1 / len + 1e-7, 4 * ULP1, () -> "softmaxBackward n=" + n + " len=" + fLen);
            for (int i = len; i < n; i++) {
                assertEquals(0f, y2[i], "masked y[" + i + "]");
                assertEquals(0f, d2[i], "masked dx[" + i + "]");
            }
        }
        float[] inPlace = x.clone();
        p.softmaxForward(inPlace, 0, inPlace, 0, n);
        float[] y1 = new float[n];
        S.softmaxForward(y1, 0, x, 0, n);
        assertClose(y1, inPlace, EXP_ABS, EXP_REL + n * ULP1, () -> "softmax in place n=" + n);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 7, 8, 15, 17, 33, 100, 1023, 4099})
    void siluAndSwiglu(int n) {
        var rnd = new SplittableRandom(600 + n);
        float[] x = Rand.floats(rnd, n, -10, 10), up = Rand.floats(rnd, n, -3, 3), d = Rand.floats(rnd, n);
        float[] a = new float[n], b = new float[n], c = new float[n], e = new float[n];
        S.siluForward(a, x, n);
        p.siluForward(b, x, n);
        assertClose(a, b, EXP_ABS, EXP_REL, () -> "siluForward n=" + n);
        S.siluBackward(a, d, x, n);
        p.siluBackward(b, d, x, n);
        assertClose(a, b, EXP_ABS, EXP_REL, () -> "siluBackward n=" + n);
        S.swigluForward(a, x, up, n);
        p.swigluForward(b, x, up, n);
        assertClose(a, b, EXP_ABS, EXP_REL, () -> "swigluForward n=" + n);
        S.swigluBackward(a, c, d, x, up, n);
        p.swigluBackward(b, e, d, x, up, n);
        assertClose(a, b, EXP_ABS, EXP_REL, () -> "swigluBackward dgate n=" + n);
        assertClose(c, e, EXP_ABS, EXP_REL, () -> "swigluBackward dup n=" + n);
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 6, 8, 16, 32, 34, 64, 128, 130})
    void ropeBothLayouts(int hs) {
        var rnd = new SplittableRandom(700 + hs);
        int T = 5, H = 3;
        int[] pos = {0, 1, 17, 2000, 4095};
        var tab = RopeTables.of(4096, hs, 500000);
        float[] x = Rand.floats(rnd, T * H * hs);
        for (RopeLayout layout : RopeLayout.values()) {
            float[] a = x.clone(), b = x.clone();
            S.ropeForward(a, T, H, hs, pos, tab, layout);
            p.ropeForward(b, T, H, hs, pos, tab, layout);
            // a·c − b·s: two products and a sum; FMA contraction may differ by an ulp of the larger term.
            assertClose(a, b, 2 * ULP1, 2 * ULP1, () -> "ropeForward hs=" + hs + " " + layout);
            S.ropeBackward(a, T, H, hs, pos, tab, layout);
            p.ropeBackward(b, T, H, hs, pos, tab, layout);
            assertClose(a, b, 4 * ULP1, 4 * ULP1, () -> "ropeBackward hs=" + hs + " " + layout);
            assertClose(x, b, 8 * ULP1, 8 * ULP1, () -> "backward∘forward is the identity, hs=" + hs + " " + layout);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 7, 8, 15, 17, 33, 100, 1023, 4099})
    void crossEntropy(int V) {
        var rnd = new SplittableRandom(800 + V);
        int T = 3;
        float[] logits = Rand.floats(rnd, T * V, -10, 10);
        int[] targets = {V - 1, -1, V / 2};
        double l1 = S.crossEntropyLoss(logits, targets, T, V), l2 = p.crossEntropyLoss(logits, targets, T, V);
        assertClose(l1, l2, 1e-5, V * ULP1, () -> "crossEntropyLoss V=" + V);
        float[] d1 = new float[T * V], d2 = new float[T * V];
        double g1 = S.crossEntropyForwardBackward(d1, logits, targets, T, V, 0.5f);
        double g2 = p.crossEntropyForwardBackward(d2, logits, targets, T, V, 0.5f);
        assertClose(g1, g2, 1e-5, V * ULP1, () -> "crossEntropyForwardBackward loss V=" + V);
        assertClose(d1, d2, EXP_ABS, EXP_REL + V * ULP1, () -> "dlogits V=" + V);
        for (int v = 0; v < V; v++) {
            assertEquals(0f, d2[V + v], "ignored row must get zero gradient");
        }
    }

    // ---------------------------------------------------------------- boundary inputs

    @Test
    void softmaxOfHugeLogitsIsFinite() {
        float[] x = new float[37];
        Arrays.fill(x, -3e38f);
        x[5] = 3e38f;
        x[20] = 3e38f;
        for (VectorOps ops : KernelTesting.implementations()) {
            float[] y = new float[37];
            ops.softmaxForward(y, 0, x, 0, 37);
            assertEquals(0.5f, y[5], ops.name());
            assertEquals(0.5f, y[20], ops.name());
            assertEquals(0f, y[0], ops.name());
        }
    }

    @Test
    void maskedEntriesAreNeverRead() {
        float[] x = new float[40];
        Arrays.fill(x, Float.NaN);
        for (int i = 0; i < 21; i++) {
            x[i] = i * 0.1f;
        }
        for (VectorOps ops : KernelTesting.implementations()) {
            float[] y = new float[40];
            ops.softmaxForward(y, 0, x, 0, 40, 21);
            for (float v : y) {
                assertFalse(Float.isNaN(v), ops.name() + ": NaN beyond the causal mask leaked in");
            }
        }
    }

    @Test
    void siluSaturatesWithoutNaN() {
        float[] x = {-1e30f, -100f, -88.8f, -0f, 0f, 88.8f, 100f, 1e30f, Float.MAX_VALUE, -Float.MAX_VALUE,
                -1e30f, -100f, -88.8f, -0f, 0f, 88.8f, 100f, 1e30f};
        int n = x.length;
        float[] ones = new float[n];
        Arrays.fill(ones, 1f);
        for (VectorOps ops : KernelTesting.implementations()) {
            float[] y = new float[n], d = new float[n];
            ops.siluForward(y, x, n);
            ops.siluBackward(d, ones, x, n);
            for (int i = 0; i < n; i++) {
                assertFalse(Float.isNaN(y[i]) || Float.isNaN(d[i]), ops.name() + " silu(" + x[i] + ")");
                if (x[i] <= -100f) {
                    assertEquals(0f, Math.abs(y[i]), 1e-30, ops.name() + " silu(" + x[i] + ")");
                }
                if (x[i] >= 100f) {
                    assertEquals(x[i], y[i], ops.name() + " silu(" + x[i] + ")");
                    assertEquals(1f, d[i], ops.name() + " silu'(" + x[i] + ")");
                }
            }
        }
    }

    @Test
    void crossEntropyOfAConfidentCorrectRowIsZero() {
        for (VectorOps ops : KernelTesting.implementations()) {
            float[] logits = new float[50];
            Arrays.fill(logits, -1e4f);
            logits[7] = 1e4f;
            assertEquals(0.0, ops.crossEntropyLoss(logits, new int[] {7}, 1, 50), 0.0, ops.name());
            assertEquals(2e4, ops.crossEntropyLoss(logits, new int[] {8}, 1, 50), 1e-3, ops.name());
        }
    }

    @Test
    void badArgumentsAreRejectedWithTheirValues() {
        for (VectorOps ops : KernelTesting.implementations()) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> ops.crossEntropyLoss(new float[10], new int[] {0, 5}, 2, 5));
            assertTrue(e.getMessage().contains("target 5 of row 1"), e.getMessage());
            var r = assertThrows(IllegalArgumentException.class,
                    () -> ops.ropeForward(new float[8], 1, 1, 8, new int[] {9}, RopeTables.of(9, 8, 1e4),
                            RopeLayout.INTERLEAVED));
            assertTrue(r.getMessage().contains("position 9"), r.getMessage());
            assertThrows(IllegalArgumentException.class, () -> ops.softmaxForward(new float[4], 0, new float[4], 0, 4, 0));
            assertThrows(IllegalArgumentException.class, () -> ops.max(new float[4], 0, 0));
        }
    }

    private static void assertTrue(boolean b, String msg) {
        org.junit.jupiter.api.Assertions.assertTrue(b, msg);
    }
}
