package dev.jlora.engine.backend;

import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/** Test double: a backend that supports some ops, runs them on Java and counts the calls it received. */
final class CountingBackend implements Backend {
    final Set<Op> supported;
    final Map<Op, Integer> calls = new EnumMap<>(Op.class);

    CountingBackend(Set<Op> supported) {
        this.supported = EnumSet.copyOf(supported);
    }

    @Override public String name() {
        return "counting";
    }

    @Override public String description() {
        return "test double";
    }

    @Override public boolean supports(Op op) {
        return supported.contains(op);
    }

    private void count(Op op) {
        if (!supported.contains(op)) {
            throw new UnsupportedOperationException("counting backend does not run " + op);
        }
        calls.merge(op, 1, Integer::sum);
    }

    int calls(Op op) {
        return calls.getOrDefault(op, 0);
    }

    @Override public void matmulABt(float[] C, float[] A, float[] B, int M, int K, int N) {
        count(Op.MATMUL_ABT);
        JavaBackend.INSTANCE.matmulABt(C, A, B, M, K, N);
    }

    @Override public void matmulAB(float[] C, float[] A, float[] B, int M, int K, int N) {
        count(Op.MATMUL_AB);
        JavaBackend.INSTANCE.matmulAB(C, A, B, M, K, N);
    }

    @Override public void matmulAtBAccumulate(float[] C, float[] A, float[] B, int M, int K, int N) {
        count(Op.MATMUL_ATB_ACCUMULATE);
        JavaBackend.INSTANCE.matmulAtBAccumulate(C, A, B, M, K, N);
    }
}
