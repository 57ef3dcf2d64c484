/**
 * Dense linear algebra in float64 on row-major {@code double[]} matrices, for adapter initialisations that
 * factor a weight once (PiSSA's SVD, OLoRA's QR, LoLDU's LDU): Householder QR, one-sided Jacobi SVD for small
 * matrices and randomized truncated SVD (Halko, Martinsson and Tropp 2011) for large ones.
 *
 * <p>A matrix is a {@code double[]} of length m·n with element (i, j) at {@code i·n + j}; shapes travel as
 * explicit ints. Nothing here is on a hot path of training: clarity over speed, but work is kept to
 * O(m·n·r) where only r factors are needed.
 */
package dev.jlora.engine.linalg;
