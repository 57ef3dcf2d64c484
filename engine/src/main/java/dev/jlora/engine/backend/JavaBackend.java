package dev.jlora.engine.backend;

import dev.jlora.simd.Matmul;
import dev.jlora.simd.VectorOps;

/** The default backend: every op on the JVM through {@link Matmul} (Vector API kernels, parallel pool). */
public final class JavaBackend implements Backend {
    public static final JavaBackend INSTANCE = new JavaBackend();

    private JavaBackend() {}

    @Override public String name() {
        return "java";
    }

    @Override public String description() {
        return "pure Java, " + "vector ops " + VectorOps.get().name() + ", "
                + Runtime.getRuntime().availableProcessors() + " cores";
    }

    @Override public boolean supports(Op op) {
        return true;
    }

    // Empty products are answered here: the packed Panama kernel divides by a zero dimension (simd Matmul, AB and
    // AᵀB forms with an empty dimension), and an empty sum is 0 anyway.

    @Override public void matmulABt(float[] C, float[] A, float[] B, int M, int K, int N) {
        if (empty(Op.MATMUL_ABT, C, A, B, M, K, N)) {
            return;
        }
        Matmul.matmulABt(C, A, B, M, K, N);
    }

    @Override public void matmulAB(float[] C, float[] A, float[] B, int M, int K, int N) {
        if (empty(Op.MATMUL_AB, C, A, B, M, K, N)) {
            return;
        }
        Matmul.matmulAB(C, A, B, M, K, N);
    }

    @Override public void matmulAtBAccumulate(float[] C, float[] A, float[] B, int M, int K, int N) {
        if (empty(Op.MATMUL_ATB_ACCUMULATE, C, A, B, M, K, N)) {
            return;
        }
        Matmul.matmulAtBAccumulate(C, A, B, M, K, N);
    }

    /** True (after zeroing an overwritten C) when a dimension is 0; shapes are checked either way. */
    private static boolean empty(Op op, float[] C, float[] A, float[] B, int M, int K, int N) {
        if (M != 0 && K != 0 && N != 0) {
            return false;
        }
        Backend.checkShapes(op, C, A, B, M, K, N);
        if (op != Op.MATMUL_ATB_ACCUMULATE) {
            java.util.Arrays.fill(C, 0, M * N, 0f);
        }
        return true;
    }

    /** Registered in {@code META-INF/services} so {@code --version} lists it like the others. */
    public static final class Provider implements BackendProvider {
        @Override public String name() {
            return "java";
        }

        @Override public int preference() {
            return 0;
        }

        @Override public Probe probe() {
            return Probe.available(INSTANCE);
        }
    }
}
