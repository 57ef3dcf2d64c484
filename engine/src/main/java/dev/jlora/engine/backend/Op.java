package dev.jlora.engine.backend;

/** The heavy operations a {@link Backend} may run; {@link Backend#supports} says which it implements. */
public enum Op {
    /** {@code C[M×N] = A[M×K]·B[N×K]ᵀ}: the forward of a linear layer {@code y = x·Wᵀ}. */
    MATMUL_ABT,
    /** {@code C[M×N] = A[M×K]·B[K×N]}: the input gradient {@code dx = dy·W}. */
    MATMUL_AB,
    /** {@code C[K×N] += A[M×K]ᵀ·B[M×N]}: the weight gradient {@code dW += dyᵀ·x}. */
    MATMUL_ATB_ACCUMULATE
}
