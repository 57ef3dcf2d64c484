package dev.jlora.engine.adapter;

import dev.jlora.simd.Matmul;
import dev.jlora.simd.Parallel;

/**
 * The three dense products adapters need, over small row-major fp32 matrices (one factor has r rows or columns),
 * spread over the shared pool. Every output element is summed in one fixed order whatever the thread count or JIT
 * tier, which bit-reproducible training relies on (the Vector API's lane reductions are not order-stable across
 * tiers): products of at least {@link #GEMM_MIN_MACS} multiply-adds and more than three rows go to simd's packed
 * GEMM ({@link Matmul}: one chain of fused multiply-adds per element, in k order, no lane reductions), smaller ones
 * run as plain loops. A scale {@code alpha} is applied to the smaller input before the product. The work is
 * O(T·r·(IC + OC)), small next to the frozen matmul, but as scalar loops it cost about a tenth of a LoRA step.
 */
final class SmallMatmul {
    /** Smallest product (multiply-adds) worth packing for the GEMM. */
    static final long GEMM_MIN_MACS = 1 << 15;

    private SmallMatmul() {}

    /** Whether an M-row product of M·N·K multiply-adds goes to the GEMM (more than 3 rows: no dot-product path). */
    private static boolean gemm(int M, int N, int K) {
        return M > 3 && N > 0 && K > 0 && (long) M * N * K >= GEMM_MIN_MACS;
    }

    /** alpha·x[0..n) as a new array, or x itself when alpha is 1. */
    private static float[] scaled(float[] x, int n, float alpha) {
        if (alpha == 1f) {
            return x;
        }
        float[] y = new float[n];
        for (int i = 0; i < n; i++) {
            y[i] = alpha * x[i];
        }
        return y;
    }

    /** c[i·N + j] = Σ_k a[i·K + k]·b[j·K + k] (c = a·bᵀ, a [M×K], b [N×K]). Overwrites c. */
    static void abt(float[] c, float[] a, float[] b, int M, int N, int K) {
        if (gemm(M, N, K)) {
            Matmul.matmulABt(c, a, b, M, K, N);
            return;
        }
        Parallel.parallelForRange(M, grain(N * K), (from, to) -> {
            for (int i = from; i < to; i++) {
                int ao = i * K;
                for (int j = 0; j < N; j++) {
                    int bo = j * K;
                    float s = 0f;
                    for (int k = 0; k < K; k++) {
                        s += a[ao + k] * b[bo + k];
                    }
                    c[i * N + j] = s;
                }
            }
        });
    }

    /** c[i·N + j] += alpha·Σ_k a[i·K + k]·b[j·K + k] (c += alpha·a·bᵀ, a [M×K], b [N×K]). Accumulates. */
    static void abtAcc(float[] c, float alpha, float[] a, float[] b, int M, int N, int K) {
        if (gemm(M, N, K)) {
            if (M <= N) {
                Matmul.matmulABtAccumulate(c, scaled(a, M * K, alpha), b, M, K, N);
            } else {
                Matmul.matmulABtAccumulate(c, a, scaled(b, N * K, alpha), M, K, N);
            }
            return;
        }
        Parallel.parallelForRange(M, grain(N * K), (from, to) -> {
            for (int i = from; i < to; i++) {
                int ao = i * K;
                for (int j = 0; j < N; j++) {
                    int bo = j * K;
                    float s = 0f;
                    for (int k = 0; k < K; k++) {
                        s += a[ao + k] * b[bo + k];
                    }
                    c[i * N + j] += alpha * s;
                }
            }
        });
    }

    /** c[i·N + j] (+)= alpha·Σ_k a[i·K + k]·b[k·N + j] (c = alpha·a·b, a [M×K], b [K×N]); accumulates if {@code acc}. */
    static void ab(float[] c, float alpha, float[] a, float[] b, int M, int N, int K, boolean acc) {
        if (gemm(M, N, K)) {
            float[] as = M <= N ? scaled(a, M * K, alpha) : a, bs = M <= N ? b : scaled(b, K * N, alpha);
            if (acc) {
                Matmul.matmulABAccumulate(c, as, bs, M, K, N);
            } else {
                Matmul.matmulAB(c, as, bs, M, K, N);
            }
            return;
        }
        Parallel.parallelForRange(M, grain(N * K), (from, to) -> {
            for (int i = from; i < to; i++) {
                int co = i * N;
                if (!acc) {
                    java.util.Arrays.fill(c, co, co + N, 0f);
                }
                for (int k = 0; k < K; k++) {
                    float av = alpha * a[i * K + k];
                    int bo = k * N;
                    for (int j = 0; j < N; j++) {
                        c[co + j] += av * b[bo + j];
                    }
                }
            }
        });
    }

    /** c[i·N + j] += alpha·Σ_t a[t·M + i]·b[t·N + j] (c += alpha·aᵀ·b, a [T×M], b [T×N]). Accumulates. */
    static void atbAcc(float[] c, float alpha, float[] a, float[] b, int T, int M, int N) {
        if (gemm(M, N, T)) {
            if (M <= N) {
                Matmul.matmulAtBAccumulate(c, scaled(a, T * M, alpha), b, T, M, N);
            } else {
                Matmul.matmulAtBAccumulate(c, a, scaled(b, T * N, alpha), T, M, N);
            }
            return;
        }
        Parallel.parallelForRange(M, grain(T * N), (from, to) -> {
            for (int i = from; i < to; i++) {
                int co = i * N;
                for (int t = 0; t < T; t++) {
                    float s = alpha * a[t * M + i];
                    int bo = t * N;
                    for (int j = 0; j < N; j++) {
                        c[co + j] += s * b[bo + j];
                    }
                }
            }
        });
    }

    /** Rows per task so that a task has at least ~16k multiply-adds. */
    private static int grain(int workPerRow) {
        return Math.max(1, (1 << 14) / Math.max(1, workPerRow));
    }
}
