package dev.jlora.engine.adapter;

import dev.jlora.simd.Parallel;

/**
 * The three dense products adapters need, over small row-major fp32 matrices (one factor has r rows or columns),
 * spread over the shared pool by output rows. Plain loops on purpose: every output element is summed in one fixed
 * order whatever the thread count or JIT tier, which bit-reproducible training relies on (the Vector API's lane
 * reductions are not order-stable across tiers). The work is O(T·r·(IC + OC)), small next to the frozen matmul.
 */
final class SmallMatmul {
    private SmallMatmul() {}

    /** c[i·N + j] = Σ_k a[i·K + k]·b[j·K + k] (c = a·bᵀ, a [M×K], b [N×K]). Overwrites c. */
    static void abt(float[] c, float[] a, float[] b, int M, int N, int K) {
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
