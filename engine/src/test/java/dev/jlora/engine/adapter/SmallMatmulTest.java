package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The four adapter products against float64 sums of their definitions, on shapes that take the plain loops (fewer
 * than {@link SmallMatmul#GEMM_MIN_MACS} multiply-adds or at most 3 rows) and the packed GEMM (LoRA-like: many rows,
 * rank 8, with the scale on either input). Tolerance: a float sum of K products is within K·ulp(1)·Σ|products| of
 * the exact one (Higham ch. 3), plus the rounding of alpha·x.
 */
class SmallMatmulTest {

    static float[] floats(SplittableRandom rnd, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return f;
    }

    static void check(double want, double absSum, float got, int K, String what) {
        assertEquals(want, got, (K + 2) * Math.ulp(1f) * absSum + 1e-30, what);
    }

    @ParameterizedTest(name = "M={0} N={1} K={2}")
    @CsvSource({"3,5,7", "2,768,64", "37,8,300", "300,8,37", "8,300,37", "130,40,8"})
    void everyFormMatchesFloat64(int M, int N, int K) {
        var rnd = new SplittableRandom(97L * M + 13L * N + K);
        float alpha = 1.7f;
        String shape = " M=" + M + " N=" + N + " K=" + K;
        float[] a = floats(rnd, M * K), bt = floats(rnd, N * K), b = floats(rnd, K * N), c0 = floats(rnd, M * N);

        float[] c = new float[M * N];
        SmallMatmul.abt(c, a, bt, M, N, K);
        float[] acc = c0.clone();
        SmallMatmul.abtAcc(acc, alpha, a, bt, M, N, K);
        float[] ab = floats(rnd, M * N);   // garbage: overwritten
        SmallMatmul.ab(ab, alpha, a, b, M, N, K, false);
        float[] abAcc = c0.clone();
        SmallMatmul.ab(abAcc, alpha, a, b, M, N, K, true);
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) {
                double s = 0, abs = 0, s2 = 0, abs2 = 0;
                for (int k = 0; k < K; k++) {
                    s += (double) a[i * K + k] * bt[j * K + k];
                    abs += Math.abs((double) a[i * K + k] * bt[j * K + k]);
                    s2 += (double) a[i * K + k] * b[k * N + j];
                    abs2 += Math.abs((double) a[i * K + k] * b[k * N + j]);
                }
                int at = i * N + j;
                check(s, abs, c[at], K, "abt" + shape + " [" + at + "]");
                check(c0[at] + alpha * s, Math.abs(c0[at]) + alpha * abs, acc[at], K, "abtAcc" + shape + " [" + at + "]");
                check(alpha * s2, alpha * abs2, ab[at], K, "ab" + shape + " [" + at + "]");
                check(c0[at] + alpha * s2, Math.abs(c0[at]) + alpha * abs2, abAcc[at], K, "ab acc" + shape + " [" + at + "]");
            }
        }

        // c[M×N] += alpha·aᵀ·b with a [T×M], b [T×N]; T = K here.
        float[] ta = floats(rnd, K * M), tb = floats(rnd, K * N), atb = c0.clone();
        SmallMatmul.atbAcc(atb, alpha, ta, tb, K, M, N);
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) {
                double s = 0, abs = 0;
                for (int t = 0; t < K; t++) {
                    s += (double) ta[t * M + i] * tb[t * N + j];
                    abs += Math.abs((double) ta[t * M + i] * tb[t * N + j]);
                }
                int at = i * N + j;
                check(c0[at] + alpha * s, Math.abs(c0[at]) + alpha * abs, atb[at], K, "atbAcc" + shape + " [" + at + "]");
            }
        }
    }
}
