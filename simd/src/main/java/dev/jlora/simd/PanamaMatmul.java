package dev.jlora.simd;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * The packed, register-blocked GEMM behind {@link Matmul} (the Goto/BLIS scheme: Goto &amp; van de Geijn 2008,
 * "Anatomy of high-performance matrix multiplication"; Van Zee &amp; van de Geijn 2015, BLIS).
 *
 * <p>All three forms are one routine, {@code C[Mo×No] (+)= Aop[Mo×Kr]·Bop[Kr×No]}, where {@code Aop} is read in
 * place through a row stride and a reduction stride (so Aᵀ costs nothing) and {@code Bop} is copied per
 * {@code KC×NC} block into panels of {@code NR = 2·L} columns ({@code L} floats per vector), zero-padded past
 * {@code No}. The micro-kernel keeps a {@code 6×NR} tile of C in 12 vector registers and per reduction step loads
 * two vectors of the panel, broadcasts six elements of Aop and issues twelve FMAs; nothing is reduced across
 * lanes. Tasks are (row block × column block) pairs on {@link Parallel}; each packs its own B block into a
 * thread-local buffer, so tasks share nothing but read-only inputs and disjoint parts of C.
 */
final class PanamaMatmul {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** Micro-tile: MR rows of C by NR columns. 6×2 vectors = 12 accumulators + 2 B vectors + 1 broadcast. */
    static final int MR = 6, NR = 2 * L;
    /** Reduction block: KC·NR floats of a panel (16 KiB at L = 16) stay in L1 while six rows of A stream by. */
    static final int KC = 256;
    /** Column block: NC_PANELS panels (a KC×NC block of B, 128 KiB at L = 16) stay in L2. */
    static final int NC_PANELS = 4, NC = NC_PANELS * NR;
    /** Row block per task: 16 micro-tiles. */
    static final int MC = 16 * MR;

    private static final ThreadLocal<float[]> PACKED = ThreadLocal.withInitial(() -> new float[KC * NC]);

    private PanamaMatmul() {}

    /** Copies {@code Bop[k0..k0+kc) × [j0..j0+nc)} into panels: {@code dst[q·kc·NR + kk·NR + jj]}, zero past nc. */
    private interface Packer {
        void pack(float[] dst, int k0, int kc, int j0, int nc);
    }

    static void abt(float[] C, float[] A, float[] B, int M, int K, int N) {
        // Bop[k][j] = B[j·K + k]: read each row of B contiguously, scatter into the panel's column jj.
        gemm(C, M, N, K, A, K, 1, (dst, k0, kc, j0, nc) -> {
            for (int jj = 0; jj < nc; jj++) {
                int src = (j0 + jj) * K + k0, q = jj / NR, col = jj % NR;
                int base = q * kc * NR + col;
                for (int kk = 0; kk < kc; kk++) {
                    dst[base + kk * NR] = B[src + kk];
                }
            }
        }, false);
    }

    static void abt(float[] C, float[] A, MemorySegment B, long bByteOff, int M, int K, int N) {
        gemm(C, M, N, K, A, K, 1, (dst, k0, kc, j0, nc) -> {
            for (int jj = 0; jj < nc; jj++) {
                long src = bByteOff + 4L * ((long) (j0 + jj) * K + k0);
                int base = (jj / NR) * kc * NR + jj % NR;
                for (int kk = 0; kk < kc; kk++) {
                    dst[base + kk * NR] = B.get(ScalarOps.F32_LE, src + 4L * kk);
                }
            }
        }, false);
    }

    static void ab(float[] C, float[] A, float[] B, int M, int K, int N) {
        gemm(C, M, N, K, A, K, 1, rowMajorPacker(B, N), false);
    }

    static void atbAccumulate(float[] C, float[] A, float[] B, int M, int K, int N) {
        // C[K×N] += Aᵀ·B: output rows are k (stride 1 in A), the reduction runs over i (stride K in A).
        gemm(C, K, N, M, A, 1, K, rowMajorPacker(B, N), true);
    }

    /** Bop[k][j] = B[k·N + j]: whole vectors per panel row. */
    private static Packer rowMajorPacker(float[] B, int N) {
        return (dst, k0, kc, j0, nc) -> {
            for (int q = 0; q * NR < nc; q++) {
                int cols = Math.min(NR, nc - q * NR), base = q * kc * NR;
                for (int kk = 0; kk < kc; kk++) {
                    int src = (k0 + kk) * N + j0 + q * NR;
                    System.arraycopy(B, src, dst, base + kk * NR, cols);
                }
            }
        };
    }

    /**
     * {@code C[Mo×No] (+)= Aop·Bop} with {@code Aop[i][k] = A[i·ars + k·aks]}. Overwrites C unless
     * {@code accumulate}.
     */
    private static void gemm(float[] C, int Mo, int No, int Kr, float[] A, int ars, int aks, Packer packer,
                             boolean accumulate) {
        int mBlocks = (Mo + MC - 1) / MC, nBlocks = (No + NC - 1) / NC;
        Parallel.parallelFor(mBlocks * nBlocks, task -> {
            int i0 = (task % mBlocks) * MC, j0 = (task / mBlocks) * NC;
            int mc = Math.min(MC, Mo - i0), nc = Math.min(NC, No - j0);
            if (!accumulate) {
                for (int i = i0; i < i0 + mc; i++) {
                    java.util.Arrays.fill(C, i * No + j0, i * No + j0 + nc, 0f);
                }
            }
            float[] bp = PACKED.get();
            int panels = (nc + NR - 1) / NR;
            for (int k0 = 0; k0 < Kr; k0 += KC) {
                int kc = Math.min(KC, Kr - k0);
                if (nc % NR != 0) {
                    java.util.Arrays.fill(bp, 0, panels * kc * NR, 0f);   // zero padding of the last panel
                }
                packer.pack(bp, k0, kc, j0, nc);
                int i = i0;
                for (; i + MR <= i0 + mc; i += MR) {
                    for (int q = 0; q < panels; q++) {
                        int j = j0 + q * NR;
                        kernel6(C, i * No + j, No, A, i * ars + k0 * aks, ars, aks, bp, q * kc * NR, kc,
                                Math.min(NR, No - j));
                    }
                }
                for (; i < i0 + mc; i++) {
                    for (int q = 0; q < panels; q++) {
                        int j = j0 + q * NR;
                        kernel1(C, i * No + j, A, i * ars + k0 * aks, aks, bp, q * kc * NR, kc, Math.min(NR, No - j));
                    }
                }
            }
        });
    }

    /** C[6×NR tile] += Σ_kk Aop[r][kk]·panel[kk][·]; the tile starts at C[c], rows ldc apart, nValid ≤ NR columns. */
    private static void kernel6(float[] C, int c, int ldc, float[] A, int a, int ars, int aks, float[] bp, int b,
                                int kc, int nValid) {
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F);
        FloatVector c40 = FloatVector.zero(F), c41 = FloatVector.zero(F);
        FloatVector c50 = FloatVector.zero(F), c51 = FloatVector.zero(F);
        int a0 = a, a1 = a + ars, a2 = a + 2 * ars, a3 = a + 3 * ars, a4 = a + 4 * ars, a5 = a + 5 * ars;
        for (int kk = 0; kk < kc; kk++) {
            int bk = b + kk * NR, ak = kk * aks;
            FloatVector b0 = FloatVector.fromArray(F, bp, bk);
            FloatVector b1 = FloatVector.fromArray(F, bp, bk + L);
            FloatVector x = FloatVector.broadcast(F, A[a0 + ak]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, A[a1 + ak]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, A[a2 + ak]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, A[a3 + ak]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(F, A[a4 + ak]);
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(F, A[a5 + ak]);
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
        }
        if (nValid == NR) {
            addInto(C, c, c00, c01);
            addInto(C, c + ldc, c10, c11);
            addInto(C, c + 2 * ldc, c20, c21);
            addInto(C, c + 3 * ldc, c30, c31);
            addInto(C, c + 4 * ldc, c40, c41);
            addInto(C, c + 5 * ldc, c50, c51);
        } else {
            VectorMask<Float> m0 = F.indexInRange(0, nValid), m1 = F.indexInRange(L, nValid);
            addInto(C, c, c00, c01, m0, m1);
            addInto(C, c + ldc, c10, c11, m0, m1);
            addInto(C, c + 2 * ldc, c20, c21, m0, m1);
            addInto(C, c + 3 * ldc, c30, c31, m0, m1);
            addInto(C, c + 4 * ldc, c40, c41, m0, m1);
            addInto(C, c + 5 * ldc, c50, c51, m0, m1);
        }
    }

    /** One row of C against one panel: the remainder rows when Mo is not a multiple of MR. */
    private static void kernel1(float[] C, int c, float[] A, int a, int aks, float[] bp, int b, int kc, int nValid) {
        FloatVector c0 = FloatVector.zero(F), c1 = FloatVector.zero(F);
        for (int kk = 0; kk < kc; kk++) {
            FloatVector x = FloatVector.broadcast(F, A[a + kk * aks]);
            c0 = x.fma(FloatVector.fromArray(F, bp, b + kk * NR), c0);
            c1 = x.fma(FloatVector.fromArray(F, bp, b + kk * NR + L), c1);
        }
        if (nValid == NR) {
            addInto(C, c, c0, c1);
        } else {
            addInto(C, c, c0, c1, F.indexInRange(0, nValid), F.indexInRange(L, nValid));
        }
    }

    private static void addInto(float[] C, int c, FloatVector v0, FloatVector v1) {
        FloatVector.fromArray(F, C, c).add(v0).intoArray(C, c);
        FloatVector.fromArray(F, C, c + L).add(v1).intoArray(C, c + L);
    }

    private static void addInto(float[] C, int c, FloatVector v0, FloatVector v1, VectorMask<Float> m0,
                                VectorMask<Float> m1) {
        FloatVector.fromArray(F, C, c, m0).add(v0).intoArray(C, c, m0);
        FloatVector.fromArray(F, C, c + L, m1).add(v1).intoArray(C, c + L, m1);
    }
}
