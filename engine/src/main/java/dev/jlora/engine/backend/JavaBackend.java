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

    @Override public void matmulABt(float[] C, float[] A, float[] B, int M, int K, int N) {
        Matmul.matmulABt(C, A, B, M, K, N);
    }

    @Override public void matmulAB(float[] C, float[] A, float[] B, int M, int K, int N) {
        Matmul.matmulAB(C, A, B, M, K, N);
    }

    @Override public void matmulAtBAccumulate(float[] C, float[] A, float[] B, int M, int K, int N) {
        Matmul.matmulAtBAccumulate(C, A, B, M, K, N);
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
