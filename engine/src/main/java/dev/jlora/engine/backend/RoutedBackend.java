package dev.jlora.engine.backend;

import dev.jlora.quant.QuantMatrix;
import java.util.Optional;

/** A backend whose unsupported ops run on {@link JavaBackend}: what {@link Backends#select} hands out. */
record RoutedBackend(Backend primary) implements Backend {

    @Override public String name() {
        return primary.name();
    }

    @Override public String description() {
        return primary.description();
    }

    @Override public boolean supports(Op op) {
        return true;
    }

    private Backend on(Op op) {
        return primary.supports(op) ? primary : JavaBackend.INSTANCE;
    }

    @Override public void matmulABt(float[] C, float[] A, float[] B, int M, int K, int N) {
        on(Op.MATMUL_ABT).matmulABt(C, A, B, M, K, N);
    }

    @Override public void matmulAB(float[] C, float[] A, float[] B, int M, int K, int N) {
        on(Op.MATMUL_AB).matmulAB(C, A, B, M, K, N);
    }

    @Override public void matmulAtBAccumulate(float[] C, float[] A, float[] B, int M, int K, int N) {
        on(Op.MATMUL_ATB_ACCUMULATE).matmulAtBAccumulate(C, A, B, M, K, N);
    }

    @Override public Optional<QuantMatrix> residentWeight(QuantMatrix w) {
        return primary.residentWeight(w);
    }
}
