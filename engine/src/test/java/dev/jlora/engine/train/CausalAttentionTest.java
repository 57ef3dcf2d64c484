package dev.jlora.engine.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.simd.VectorOps;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link CausalAttention} against a float64 reference written from the definition (one loop per sum, no blocks), and
 * its backward against float64 central differences of that reference. Shapes cut the query block (T = 70: a block of
 * 64 and one of 6; T = 3: a single short block) and use grouped-query heads (4 query heads on 2 key/value heads),
 * fully causal and with LongLoRA S²-Attn groups whose key windows start inside a query block.
 */
class CausalAttentionTest {

    /**
     * out[b,t,h] = Σ_{lo ≤ s ≤ t} softmax_s(q·k_s/√hs)·v_s, query head h on key/value head h / (H / KVH), with
     * lo = 0 or the pattern's first key.
     */
    static double[] reference(double[] q, double[] k, double[] v, int B, int T, int H, int KVH, int hs,
                              ShiftedSparseAttention pattern) {
        int Qd = H * hs, KVd = KVH * hs, group = H / KVH;
        double[] out = new double[B * T * Qd];
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < H; h++) {
                int kvh = h / group;
                for (int t = 0; t < T; t++) {
                    int lo = pattern == null ? 0 : pattern.firstKey(h, H, t);
                    double[] p = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int s = lo; s <= t; s++) {
                        double d = 0;
                        for (int i = 0; i < hs; i++) {
                            d += q[(b * T + t) * Qd + h * hs + i] * k[(b * T + s) * KVd + kvh * hs + i];
                        }
                        p[s] = d / Math.sqrt(hs);
                        max = Math.max(max, p[s]);
                    }
                    for (int s = lo; s <= t; s++) {
                        p[s] = Math.exp(p[s] - max);
                        sum += p[s];
                    }
                    for (int s = lo; s <= t; s++) {
                        for (int i = 0; i < hs; i++) {
                            out[(b * T + t) * Qd + h * hs + i] += p[s] / sum * v[(b * T + s) * KVd + kvh * hs + i];
                        }
                    }
                }
            }
        }
        return out;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    static double[] randoms(SplittableRandom rnd, int n) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) {
            d[i] = (float) (rnd.nextDouble() * 2 - 1);   // representable in float: both sides see the same inputs
        }
        return d;
    }

    static float[] floats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

    /** groupSize 0: full causal attention; else LongLoRA's S²-Attn with that group size (half the heads shifted). */
    @ParameterizedTest(name = "B={0} T={1} H={2} KVH={3} hs={4} group={5}")
    @CsvSource({"1,70,4,2,8,0", "1,3,2,2,5,0", "1,130,2,1,8,0", "1,70,4,2,8,14", "1,130,2,1,8,26", "2,6,2,2,4,2"})
    void forwardAndBackwardMatchFloat64(int B, int T, int H, int KVH, int hs, int groupSize) {
        ShiftedSparseAttention pattern = groupSize == 0 ? null : ShiftedSparseAttention.of(groupSize);
        var rnd = new SplittableRandom(1000L * T + 10L * H + hs);
        int Qd = H * hs, KVd = KVH * hs;
        double[] q = randoms(rnd, B * T * Qd), k = randoms(rnd, B * T * KVd), v = randoms(rnd, B * T * KVd);
        double[] g = randoms(rnd, B * T * Qd);   // loss = g·out, so dout = g
        var attention = new CausalAttention(B, T, H, KVH, hs, VectorOps.get());

        double[] want = reference(q, k, v, B, T, H, KVH, hs, pattern);
        float[] out = new float[B * T * Qd];
        attention.forward(out, floats(q), floats(k), floats(v), pattern);
        for (int i = 0; i < out.length; i++) {
            // float32 products and softmax of O(1) values against float64: 1e-5 absolute + 1e-5 relative
            assertEquals(want[i], out[i], 1e-5 + 1e-5 * Math.abs(want[i]), "out[" + i + "]");
        }

        float[] dq = new float[q.length], dk = new float[k.length], dv = new float[v.length];
        attention.backward(dq, dk, dv, floats(g), floats(q), floats(k), floats(v), pattern);
        double eps = 1e-6, maxGrad = 0;
        double[][] inputs = {q, k, v};
        float[][] grads = {dq, dk, dv};
        String[] names = {"dq", "dk", "dv"};
        for (int which = 0; which < 3; which++) {
            double[] x = inputs[which];
            // every 23rd entry (coprime with the row widths): all heads, positions and channels are hit at a fraction of the cost
            for (int i = which; i < x.length; i += 23) {
                double keep = x[i];
                x[i] = keep + eps;
                double up = dot(g, reference(q, k, v, B, T, H, KVH, hs, pattern));
                x[i] = keep - eps;
                double down = dot(g, reference(q, k, v, B, T, H, KVH, hs, pattern));
                x[i] = keep;
                double fd = (up - down) / (2 * eps);   // truncation O(eps²) ≈ 1e-12, rounding ≈ 1e-10
                maxGrad = Math.max(maxGrad, Math.abs(fd));
                // float32 backward vs float64 finite differences: 1e-5 absolute + 1e-4 relative
                assertEquals(fd, grads[which][i], 1e-5 + 1e-4 * Math.abs(fd), names[which] + "[" + i + "]");
            }
        }
        assertTrue(maxGrad > 1e-2, "gradients are not trivially zero (max |g| = " + maxGrad + ")");
    }
}
