package dev.jlora.simd;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The three matrix products of training a linear layer {@code y = x·Wᵀ} ({@code W} is {@code [OC, IC]}), on
 * row-major {@code float[]} matrices, parallel over the shared {@link Parallel} pool:
 * <ul>
 *   <li>forward {@code y = x·Wᵀ}: {@link #matmulABt} ({@code C[M×N] = A[M×K]·B[N×K]ᵀ}), also with {@code W} as a
 *       mapped fp32 segment, and a matrix-vector path for {@code M = 1} (generation);</li>
 *   <li>input gradient {@code dx = dy·W}: {@link #matmulAB} ({@code C[M×N] = A[M×K]·B[K×N]});</li>
 *   <li>weight gradient {@code dW += dyᵀ·x}: {@link #matmulAtBAccumulate} ({@code C[K×N] += A[M×K]ᵀ·B[M×N]}).</li>
 * </ul>
 * With the Vector API the work goes to a packed, register-blocked kernel ({@code PanamaMatmul}); otherwise, and
 * for ABt with at most {@value #DOT_PATH_MAX_M} rows, to loops over {@link VectorOps}. Each form has a naive {@code ...Ref} twin that the tests hold it to.
 *
 * <p>Shapes are checked against the array lengths before any work; C must not alias A or B.
 */
public final class Matmul {
    private Matmul() {}

    /** Below this many rows of A the ABt form runs as independent dot products (no packing). */
    static final int DOT_PATH_MAX_M = 3;

    // ---------------------------------------------------------------- C = A·Bᵀ

    /** {@code C[M×N] = A[M×K]·B[N×K]ᵀ}, i.e. {@code C[i,j] = Σ_k A[i,k]·B[j,k]}. Overwrites C. */
    public static void matmulABt(float[] C, float[] A, float[] B, int M, int K, int N) {
        check("matmulABt", C, (long) M * N, A, (long) M * K, B.length, (long) N * K, M, K, N);
        checkNotAliased("matmulABt", C, B);
        if (VectorOpsProvider.panama() && M > DOT_PATH_MAX_M && K > 0) {
            PanamaMatmul.abt(C, A, B, M, K, N);
        } else {
            abtDots(VectorOps.get(), C, A, B, M, K, N);
        }
    }

    /**
     * {@code C[M×N] += A[M×K]·B[N×K]ᵀ}. Accumulates into C. No dot-product path: every element is one sequential
     * chain of fused multiply-adds in k order (no lane reductions), so the result does not depend on the JIT tier or
     * the thread count.
     */
    public static void matmulABtAccumulate(float[] C, float[] A, float[] B, int M, int K, int N) {
        check("matmulABtAccumulate", C, (long) M * N, A, (long) M * K, B.length, (long) N * K, M, K, N);
        checkNotAliased("matmulABtAccumulate", C, B);
        if (VectorOpsProvider.panama()) {
            PanamaMatmul.abt(C, A, B, M, K, N, true);
        } else {
            abtAccumulateLoops(C, A, B, M, K, N);
        }
    }

    /** ABt accumulated with plain loops, parallel over rows of C: the fallback (summed in k order, as the reference). */
    static void abtAccumulateLoops(float[] C, float[] A, float[] B, int M, int K, int N) {
        Parallel.parallelForRange(M, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                for (int j = 0; j < N; j++) {
                    float s = 0;
                    for (int k = 0; k < K; k++) {
                        s += A[i * K + k] * B[j * K + k];
                    }
                    C[i * N + j] += s;
                }
            }
        });
    }

    /** Reference for {@link #matmulABtAccumulate}. */
    public static void matmulABtAccumulateRef(float[] C, float[] A, float[] B, int M, int K, int N) {
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) {
                float s = 0;
                for (int k = 0; k < K; k++) {
                    s += A[i * K + k] * B[j * K + k];
                }
                C[i * N + j] += s;
            }
        }
    }

    /** ABt as M·N dot products, parallel over columns (rows of B): the matvec path and the fallback. */
    static void abtDots(VectorOps ops, float[] C, float[] A, float[] B, int M, int K, int N) {
        Parallel.parallelForRange(N, Math.max(1, 4096 / Math.max(K, 1)), (j0, j1) -> {
            for (int j = j0; j < j1; j++) {   // row j of B stays in L1 across the M dot products
                for (int i = 0; i < M; i++) {
                    C[i * N + j] = ops.dot(A, i * K, B, j * K, K);
                }
            }
        });
    }

    /**
     * {@code C[M×N] = A[M×K]·B[N×K]ᵀ} with B as fp32 little-endian at {@code bByteOff} of a (mapped) segment,
     * row-major, read in place. Overwrites C. The segment is read from the pool's threads, so it must come from
     * a shared, global or auto arena (a file mapping normally is); a confined one fails with WrongThreadException.
     */
    public static void matmulABt(float[] C, float[] A, MemorySegment B, long bByteOff, int M, int K, int N) {
        long bFloats = (B.byteSize() - bByteOff) / 4;
        check("matmulABt(segment)", C, (long) M * N, A, (long) M * K, bByteOff < 0 ? -1 : bFloats, (long) N * K, M, K, N);
        if (VectorOpsProvider.panama() && M > DOT_PATH_MAX_M && K > 0) {
            PanamaMatmul.abt(C, A, B, bByteOff, M, K, N);
        } else {
            abtDots(VectorOps.get(), C, A, B, bByteOff, M, K, N);
        }
    }

    /** Segment ABt as dot products over rows of B read in place. */
    static void abtDots(VectorOps ops, float[] C, float[] A, MemorySegment B, long bByteOff, int M, int K, int N) {
        Parallel.parallelForRange(N, Math.max(1, 4096 / Math.max(K, 1)), (j0, j1) -> {
            for (int j = j0; j < j1; j++) {
                for (int i = 0; i < M; i++) {
                    C[i * N + j] = ops.dot(B, bByteOff + 4L * j * K, A, i * K, K);
                }
            }
        });
    }

    /** Reference for both {@code matmulABt} forms: the defining triple loop, float accumulation in k order. */
    public static void matmulABtRef(float[] C, float[] A, float[] B, int M, int K, int N) {
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) {
                float s = 0;
                for (int k = 0; k < K; k++) {
                    s += A[i * K + k] * B[j * K + k];
                }
                C[i * N + j] = s;
            }
        }
    }

    // ---------------------------------------------------------------- B read through a RowReader

    /**
     * {@code C[M×N] = A[M×K]·B[N×K]ᵀ} with the N rows of B (K columns each) read through {@code B}, e.g. a frozen
     * weight decoded from its storage format: the forward {@code y = x·Wᵀ}. Overwrites C. Each row of B is read once
     * per call (per column chunk of the packed kernel). The reader checks its own row and column ranges.
     */
    public static void matmulABt(float[] C, float[] A, RowReader B, int M, int K, int N) {
        check("matmulABt(rows)", C, (long) M * N, A, (long) M * K, (long) N * K, (long) N * K, M, K, N);
        if (VectorOpsProvider.panama() && M > DOT_PATH_MAX_M && K > 0) {
            PanamaMatmul.abt(C, A, B, M, K, N);
        } else {
            abtDots(VectorOps.get(), C, A, B, M, K, N);
        }
    }

    /** RowReader ABt as dot products, each row of B read once into a task's buffer: the matvec path and fallback. */
    static void abtDots(VectorOps ops, float[] C, float[] A, RowReader B, int M, int K, int N) {
        Parallel.parallelForRange(N, Math.max(1, 4096 / Math.max(K, 1)), (j0, j1) -> {
            float[] row = new float[K];
            for (int j = j0; j < j1; j++) {
                B.read(j, 0, K, row, 0);
                for (int i = 0; i < M; i++) {
                    C[i * N + j] = ops.dot(A, i * K, row, 0, K);
                }
            }
        });
    }

    /** Reference for the RowReader ABt: each row of B read whole, then the defining triple loop. */
    public static void matmulABtRef(float[] C, float[] A, RowReader B, int M, int K, int N) {
        float[] row = new float[K];
        for (int j = 0; j < N; j++) {
            B.read(j, 0, K, row, 0);
            for (int i = 0; i < M; i++) {
                float s = 0;
                for (int k = 0; k < K; k++) {
                    s += A[i * K + k] * row[k];
                }
                C[i * N + j] = s;
            }
        }
    }

    /**
     * {@code C[M×N] += A[M×K]·B[K×N]} with the K rows of B (N columns each) read through {@code B}: the input
     * gradient {@code dx += dy·W} through a frozen weight. Accumulates into C.
     */
    public static void matmulABAccumulate(float[] C, float[] A, RowReader B, int M, int K, int N) {
        check("matmulABAccumulate(rows)", C, (long) M * N, A, (long) M * K, (long) K * N, (long) K * N, M, K, N);
        if (VectorOpsProvider.panama()) {
            PanamaMatmul.abAccumulate(C, A, B, M, K, N);
        } else {
            abAxpysAccumulate(VectorOps.get(), C, A, B, M, K, N);
        }
    }

    /** RowReader AB (accumulating) as axpys, parallel over rows of C; each task reads every row of B: the fallback. */
    static void abAxpysAccumulate(VectorOps ops, float[] C, float[] A, RowReader B, int M, int K, int N) {
        Parallel.parallelForRange(M, (i0, i1) -> {
            float[] row = new float[N];
            for (int k = 0; k < K; k++) {
                B.read(k, 0, N, row, 0);
                for (int i = i0; i < i1; i++) {
                    ops.axpy(A[i * K + k], row, 0, C, i * N, N);
                }
            }
        });
    }

    /** Reference for {@link #matmulABAccumulate}: rows of B read whole, products summed in k order, then added. */
    public static void matmulABAccumulateRef(float[] C, float[] A, RowReader B, int M, int K, int N) {
        float[] b = new float[K * N];
        for (int k = 0; k < K; k++) {
            B.read(k, 0, N, b, k * N);
        }
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) {
                float s = 0;
                for (int k = 0; k < K; k++) {
                    s += A[i * K + k] * b[k * N + j];
                }
                C[i * N + j] += s;
            }
        }
    }

    // ---------------------------------------------------------------- C = A·B

    /** {@code C[M×N] = A[M×K]·B[K×N]}. Overwrites C. */
    public static void matmulAB(float[] C, float[] A, float[] B, int M, int K, int N) {
        check("matmulAB", C, (long) M * N, A, (long) M * K, B.length, (long) K * N, M, K, N);
        checkNotAliased("matmulAB", C, B);
        if (VectorOpsProvider.panama()) {
            PanamaMatmul.ab(C, A, B, M, K, N, false);
        } else {
            abAxpys(VectorOps.get(), C, A, B, M, K, N);
        }
    }

    /** {@code C[M×N] += A[M×K]·B[K×N]}. Accumulates into C. */
    public static void matmulABAccumulate(float[] C, float[] A, float[] B, int M, int K, int N) {
        check("matmulABAccumulate", C, (long) M * N, A, (long) M * K, B.length, (long) K * N, M, K, N);
        checkNotAliased("matmulABAccumulate", C, B);
        if (VectorOpsProvider.panama()) {
            PanamaMatmul.ab(C, A, B, M, K, N, true);
        } else {
            abAxpysAccumulate(VectorOps.get(), C, A, B, M, K, N);
        }
    }

    /** AB accumulated as rows of axpys, parallel over rows: the fallback. */
    static void abAxpysAccumulate(VectorOps ops, float[] C, float[] A, float[] B, int M, int K, int N) {
        Parallel.parallelForRange(M, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                for (int k = 0; k < K; k++) {
                    ops.axpy(A[i * K + k], B, k * N, C, i * N, N);
                }
            }
        });
    }

    /** AB as rows of axpys (C row i += A[i,k]·B row k), parallel over rows: the fallback. */
    static void abAxpys(VectorOps ops, float[] C, float[] A, float[] B, int M, int K, int N) {
        Parallel.parallelForRange(M, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                Arrays.fill(C, i * N, i * N + N, 0f);
                for (int k = 0; k < K; k++) {
                    ops.axpy(A[i * K + k], B, k * N, C, i * N, N);
                }
            }
        });
    }

    /** Reference for {@link #matmulAB}; for {@link #matmulABAccumulate(float[], float[], float[], int, int, int)}, add C. */
    public static void matmulABRef(float[] C, float[] A, float[] B, int M, int K, int N) {
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) {
                float s = 0;
                for (int k = 0; k < K; k++) {
                    s += A[i * K + k] * B[k * N + j];
                }
                C[i * N + j] = s;
            }
        }
    }

    // ---------------------------------------------------------------- C += Aᵀ·B

    /** {@code C[K×N] += A[M×K]ᵀ·B[M×N]}, i.e. {@code C[k,j] += Σ_i A[i,k]·B[i,j]}. Accumulates into C. */
    public static void matmulAtBAccumulate(float[] C, float[] A, float[] B, int M, int K, int N) {
        check("matmulAtBAccumulate", C, (long) K * N, A, (long) M * K, B.length, (long) M * N, M, K, N);
        checkNotAliased("matmulAtBAccumulate", C, B);
        if (VectorOpsProvider.panama()) {
            PanamaMatmul.atbAccumulate(C, A, B, M, K, N);
        } else {
            atbAxpys(VectorOps.get(), C, A, B, M, K, N);
        }
    }

    /** AᵀB as axpys (C row k += A[i,k]·B row i), parallel over rows of C: the fallback. */
    static void atbAxpys(VectorOps ops, float[] C, float[] A, float[] B, int M, int K, int N) {
        Parallel.parallelForRange(K, (k0, k1) -> {
            for (int i = 0; i < M; i++) {
                for (int k = k0; k < k1; k++) {
                    ops.axpy(A[i * K + k], B, i * N, C, k * N, N);
                }
            }
        });
    }

    /** Reference for {@link #matmulAtBAccumulate}. */
    public static void matmulAtBAccumulateRef(float[] C, float[] A, float[] B, int M, int K, int N) {
        for (int k = 0; k < K; k++) {
            for (int j = 0; j < N; j++) {
                float s = 0;
                for (int i = 0; i < M; i++) {
                    s += A[i * K + k] * B[i * N + j];
                }
                C[k * N + j] += s;
            }
        }
    }

    private static void check(String op, float[] C, long cNeed, float[] A, long aNeed, long bHave, long bNeed,
                              int M, int K, int N) {
        if (M < 0 || K < 0 || N < 0) {
            throw new IllegalArgumentException(op + ": negative shape M=" + M + ", K=" + K + ", N=" + N);
        }
        if (C.length < cNeed || A.length < aNeed || bHave < bNeed) {
            throw new IllegalArgumentException(String.format(
                    "%s(M=%d, K=%d, N=%d): C needs %,d floats (has %,d), A needs %,d (has %,d), B needs %,d (has %,d)",
                    op, M, K, N, cNeed, C.length, aNeed, A.length, bNeed, bHave));
        }
        if (C == A) {
            throw new IllegalArgumentException(op + ": C must not alias A");
        }
    }

    private static void checkNotAliased(String op, float[] C, float[] B) {
        if (C == B) {
            throw new IllegalArgumentException(op + ": C must not alias B");
        }
    }
}
