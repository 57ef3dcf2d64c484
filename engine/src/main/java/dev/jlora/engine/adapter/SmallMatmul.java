package dev.jlora.engine.adapter;

import dev.jlora.simd.Parallel;
import dev.jlora.simd.VectorOps;

/**
 * The three dense products adapters need, over small row-major fp32 matrices (one factor has r rows or columns),
 * built on {@link VectorOps} dot/axpy and spread over the shared pool by output rows. Each output element is
 * summed in a fixed order, so results do not depend on the thread count. The work is O(T·r·(IC + OC)), small next
 * to the frozen matmul.
 */
final class SmallMatmul {
    private static final VectorOps OPS = VectorOps.get();

    private SmallMatmul() {}

    /** c[i·N + j] = Σ_k a[i·K + k]·b[j·K + k] (c = a·bᵀ, a [M×K], b [N×K]). Overwrites c. */
    static void abt(float[] c, float[] a, float[] b, int M, int N, int K) {
        Parallel.parallelForRange(M, grain(N * K), (from, to) -> {
            for (int i = from; i < to; i++) {
                for (int j = 0; j < N; j++) {
                    c[i * N + j] = OPS.dot(a, i * K, b, j * K, K);
                }
            }
        });
    }

    /** c[i·N + j] (+)= alpha·Σ_k a[i·K + k]·b[k·N + j] (c = alpha·a·b, a [M×K], b [K×N]); accumulates if {@code acc}. */
    static void ab(float[] c, float alpha, float[] a, float[] b, int M, int N, int K, boolean acc) {
        Parallel.parallelForRange(M, grain(N * K), (from, to) -> {
            for (int i = from; i < to; i++) {
                if (!acc) {
                    java.util.Arrays.fill(c, i * N, (i + 1) * N, 0f);
                }
                for (int k = 0; k < K; k++) {
                    OPS.axpy(alpha * a[i * K + k], b, k * N, c, i * N, N);
                }
            }
        });
    }

    /** c[i·N + j] += alpha·Σ_t a[t·M + i]·b[t·N + j] (c += alpha·aᵀ·b, a [T×M], b [T×N]). Accumulates. */
    static void atbAcc(float[] c, float alpha, float[] a, float[] b, int T, int M, int N) {
        Parallel.parallelForRange(M, grain(T * N), (from, to) -> {
            for (int i = from; i < to; i++) {
                for (int t = 0; t < T; t++) {
                    OPS.axpy(alpha * a[t * M + i], b, t * N, c, i * N, N);
                }
            }
        });
    }

    /** Rows per task so that a task has at least ~16k multiply-adds. */
    private static int grain(int workPerRow) {
        return Math.max(1, (1 << 14) / Math.max(1, workPerRow));
    }
}
