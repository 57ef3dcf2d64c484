package dev.jlora.engine.backend;

import dev.jlora.quant.QuantMatrix;
import java.util.Optional;

/**
 * Where the heavy operations run: fp32 matrix products in the three forms of training a linear layer, on
 * row-major {@code float[]} matrices (the same contract as {@code dev.jlora.simd.Matmul}).
 *
 * <p>A backend may implement only some {@link Op}s; calling one it does not {@link #supports support} throws
 * {@link UnsupportedOperationException}. {@link Backends#select} returns a backend that routes those to
 * {@link JavaBackend}, so the engine can call every op on what it gets.
 *
 * <p>Implementations are thread-safe. Shapes are checked against the array lengths before any work; C must not
 * alias A or B.
 */
public interface Backend {
    /** Short name used by {@code --backend} ({@code java}, {@code openblas}, ...). */
    String name();

    /** What it runs on, for logs and {@code jlora --version} (library path, core type, device). */
    String description();

    /** Whether this backend runs {@code op} itself. */
    boolean supports(Op op);

    /** {@code C[M×N] = A[M×K]·B[N×K]ᵀ}. Overwrites C. */
    void matmulABt(float[] C, float[] A, float[] B, int M, int K, int N);

    /** {@code C[M×N] = A[M×K]·B[K×N]}. Overwrites C. */
    void matmulAB(float[] C, float[] A, float[] B, int M, int K, int N);

    /** {@code C[K×N] += A[M×K]ᵀ·B[M×N]}. Accumulates into C. */
    void matmulAtBAccumulate(float[] C, float[] A, float[] B, int M, int K, int N);

    /**
     * The frozen weight {@code w} made resident on this backend in its stored format, so that its forward product
     * runs there without an fp32 copy (a quantized weight through the backend's own quantized kernels); empty when
     * the backend keeps no weights of that format. What the backend does not run natively (e.g. the transposed
     * product of a quantized weight) the returned matrix runs as {@code w} does.
     */
    default Optional<QuantMatrix> residentWeight(QuantMatrix w) {
        return Optional.empty();
    }

    /**
     * Checks the operand lengths of {@code op} for a backend that hands arrays to native code (which would read
     * out of bounds instead of throwing).
     */
    static void checkShapes(Op op, float[] C, float[] A, float[] B, int M, int K, int N) {
        if (M < 0 || K < 0 || N < 0) {
            throw new IllegalArgumentException(op + ": negative shape M=" + M + ", K=" + K + ", N=" + N);
        }
        long a = (long) M * K;
        long b = op == Op.MATMUL_ATB_ACCUMULATE ? (long) M * N : (long) K * N;
        long c = op == Op.MATMUL_ATB_ACCUMULATE ? (long) K * N : (long) M * N;
        need(op, "A", A, a, M, K, N);
        need(op, "B", B, b, M, K, N);
        need(op, "C", C, c, M, K, N);
        if (C == A || C == B) {
            throw new IllegalArgumentException(op + ": C must not alias A or B");
        }
    }

    private static void need(Op op, String name, float[] x, long n, int M, int K, int N) {
        if (x.length < n) {
            throw new IllegalArgumentException(String.format("%s (M=%d, K=%d, N=%d): %s needs %,d floats, has %,d",
                    op, M, K, N, name, n, x.length));
        }
    }
}
