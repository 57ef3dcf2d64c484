package dev.jlora.simd;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The packed, register-blocked GEMM behind {@link Matmul} (the Goto/BLIS scheme: Goto &amp; van de Geijn 2008,
 * "Anatomy of high-performance matrix multiplication"; Van Zee &amp; van de Geijn 2015, BLIS).
 *
 * <p>All three forms are one routine, {@code C[Mo×No] (+)= Aop[Mo×Kr]·Bop[Kr×No]}, where {@code Aop} is given by
 * a row stride and a reduction stride (so Aᵀ costs nothing extra) and {@code Bop} by a packer. B is packed into
 * panels of {@code NR = 2·L} columns ({@code L} floats per vector), zero-padded past {@code No}; A into tiles of
 * five rows. The micro-kernel keeps a {@code 5×NR} tile of C in 10 vector registers and per reduction step loads
 * two vectors of the panel, broadcasts five elements of A and issues ten FMAs; nothing is reduced across lanes.
 */
final class PanamaMatmul {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    /** Micro-tile: MR rows of C by NR columns. 5×2 vectors = 10 accumulators + 2 B vectors + 1 broadcast. */
    static final int MR = 5, NR = 2 * L;
    /** Reduction block: a panel (KC·NR floats, 16 KiB at L = 16) stays in L1 while packed rows of A stream by. */
    static final int KC = 256;
    /** Packed B shared by all tasks of a column chunk, for the whole reduction: 4 MiB, so a chunk is as wide as fits. */
    static final int B_FLOATS = 1 << 20;
    /** Largest row block of one task: its packed A (MC_MAX·KC floats, 240 KiB) stays in L2. */
    static final int MC_MAX = 48 * MR;
    /** Narrowest column chunk worth packing A for; a longer reduction is split into blocks instead. */
    static final int MIN_CHUNK_COLS = 512;
    /** Tasks per thread to aim for: enough to even out uneven blocks and a noisy machine. */
    static final int TASKS_PER_THREAD = 3;

    /**
     * Packed-B buffers not in use by this thread. A stack, not one buffer: a pool worker waiting inside one GEMM
     * may steal a task that starts another GEMM on the same thread.
     */
    private static final ThreadLocal<java.util.ArrayDeque<float[]>> FREE_B = ThreadLocal.withInitial(java.util.ArrayDeque::new);
    /** Packed A of a task: filled and used inside one task, which never waits, so one per thread suffices. */
    private static final ThreadLocal<float[]> PACKED_A = ThreadLocal.withInitial(() -> new float[KC * MC_MAX]);
    /** Rows read through a {@link RowReader} before they are packed (grown on demand). */
    private static final ThreadLocal<float[]> PACK_SCRATCH = ThreadLocal.withInitial(() -> new float[0]);

    private PanamaMatmul() {}

    /**
     * Copies {@code Bop[k0..k0+kc) × [j0..j0+cols)} into consecutive panels starting at {@code dst[off]}:
     * {@code dst[off + q·kc·NR + kk·NR + jj]} for column {@code j0 + q·NR + jj}. Padding is the caller's job.
     */
    private interface Packer {
        void pack(float[] dst, int off, int k0, int kc, int j0, int cols);
    }

    static void abt(float[] C, float[] A, float[] B, int M, int K, int N) {
        abt(C, A, B, M, K, N, false);
    }

    static void abt(float[] C, float[] A, float[] B, int M, int K, int N, boolean accumulate) {
        // Bop[k][j] = B[j·K + k]: a transpose. Full panels gather one column of NR rows of B per step (two
        // vgatherdps instead of 2·L scalar moves); the last, partial panel goes element by element.
        int[] rowStarts = new int[NR];
        for (int r = 0; r < NR; r++) {
            rowStarts[r] = r * K;
        }
        gemm(C, M, N, K, A, K, 1, (dst, off, k0, kc, j0, cols) -> {
            int full = cols / NR;
            for (int q = 0; q < full; q++) {
                int src = (j0 + q * NR) * K + k0, base = off + q * kc * NR;
                for (int kk = 0; kk < kc; kk++) {
                    FloatVector.fromArray(F, B, src + kk, rowStarts, 0).intoArray(dst, base + kk * NR);
                    FloatVector.fromArray(F, B, src + kk, rowStarts, L).intoArray(dst, base + kk * NR + L);
                }
            }
            for (int jj = full * NR; jj < cols; jj++) {
                int src = (j0 + jj) * K + k0, base = off + (jj / NR) * kc * NR + jj % NR;
                for (int kk = 0; kk < kc; kk++) {
                    dst[base + kk * NR] = B[src + kk];
                }
            }
        }, accumulate);
    }

    static void abt(float[] C, float[] A, MemorySegment B, long bByteOff, int M, int K, int N) {
        abt(C, A, segmentRows(B, bByteOff, K), M, K, N);
    }

    /** Rows of a row-major fp32 little-endian matrix with K columns at {@code bByteOff} of a segment. */
    static RowReader segmentRows(MemorySegment B, long bByteOff, int K) {
        var ops = PanamaOps.INSTANCE;
        return (row, col0, n, dst, dstOff) -> ops.loadF32(B, bByteOff + 4L * ((long) row * K + col0), dst, dstOff, n);
    }

    /**
     * ABt with B's rows read through a {@link RowReader}: each full panel reads its NR rows (whole, since a chunk is
     * packed for the whole reduction) into scratch and transposes them with gathers; a partial panel goes element
     * by element.
     */
    static void abt(float[] C, float[] A, RowReader B, int M, int K, int N) {
        gemm(C, M, N, K, A, K, 1, (dst, off, k0, kc, j0, cols) -> {
            // k0 is 0 or a multiple of KC that the reader's alignment divides (gemm splits the reduction only then);
            // k0 + kc is a multiple of KC or the row's end.
            float[] rows = scratch(NR * kc);
            int[] starts = new int[NR];
            for (int r = 0; r < NR; r++) {
                starts[r] = r * kc;
            }
            int full = cols / NR;
            for (int q = 0; q < full; q++) {
                for (int r = 0; r < NR; r++) {
                    B.read(j0 + q * NR + r, k0, kc, rows, r * kc);
                }
                int base = off + q * kc * NR;
                for (int kk = 0; kk < kc; kk++) {
                    FloatVector.fromArray(F, rows, kk, starts, 0).intoArray(dst, base + kk * NR);
                    FloatVector.fromArray(F, rows, kk, starts, L).intoArray(dst, base + kk * NR + L);
                }
            }
            for (int jj = full * NR; jj < cols; jj++) {
                B.read(j0 + jj, k0, kc, rows, 0);
                int base = off + (jj / NR) * kc * NR + jj % NR;
                for (int kk = 0; kk < kc; kk++) {
                    dst[base + kk * NR] = rows[kk];
                }
            }
        }, false, B.columnAlign());
    }

    /**
     * {@code C[M×N] += A[M×K]·B[K×N]} with B's rows read through a {@link RowReader}. A panel range starts at any
     * column, so for a reader with a coarser alignment each row's aligned cover of the range is read into scratch
     * and the range copied out of it.
     */
    static void abAccumulate(float[] C, float[] A, RowReader B, int M, int K, int N) {
        int align = B.columnAlign();
        gemm(C, M, N, K, A, K, 1, (dst, off, k0, kc, j0, cols) -> {
            if (align == 1) {
                for (int q = 0; q * NR < cols; q++) {
                    int w = Math.min(NR, cols - q * NR), base = off + q * kc * NR;
                    for (int kk = 0; kk < kc; kk++) {
                        B.read(k0 + kk, j0 + q * NR, w, dst, base + kk * NR);
                    }
                }
                return;
            }
            int a0 = j0 / align * align, a1 = Math.min(N, (j0 + cols + align - 1) / align * align);
            float[] row = scratch(a1 - a0);
            for (int kk = 0; kk < kc; kk++) {
                B.read(k0 + kk, a0, a1 - a0, row, 0);
                for (int q = 0; q * NR < cols; q++) {
                    int w = Math.min(NR, cols - q * NR);
                    System.arraycopy(row, j0 - a0 + q * NR, dst, off + q * kc * NR + kk * NR, w);
                }
            }
        }, true);
    }

    /** This thread's packing scratch, at least {@code n} floats (a packer never waits, so one per thread suffices). */
    private static float[] scratch(int n) {
        float[] s = PACK_SCRATCH.get();
        if (s.length < n) {
            s = new float[n];
            PACK_SCRATCH.set(s);
        }
        return s;
    }

    static void ab(float[] C, float[] A, float[] B, int M, int K, int N, boolean accumulate) {
        gemm(C, M, N, K, A, K, 1, rowMajorPacker(B, N), accumulate);
    }

    static void atbAccumulate(float[] C, float[] A, float[] B, int M, int K, int N) {
        // C[K×N] += Aᵀ·B: output rows are k (stride 1 in A), the reduction runs over i (stride K in A).
        gemm(C, K, N, M, A, 1, K, rowMajorPacker(B, N), true);
    }

    /** Bop[k][j] = B[k·N + j]: whole rows of a panel per copy. */
    private static Packer rowMajorPacker(float[] B, int N) {
        return (dst, off, k0, kc, j0, cols) -> {
            for (int q = 0; q * NR < cols; q++) {
                int w = Math.min(NR, cols - q * NR), base = off + q * kc * NR;
                for (int kk = 0; kk < kc; kk++) {
                    System.arraycopy(B, (k0 + kk) * N + j0 + q * NR, dst, base + kk * NR, w);
                }
            }
        };
    }

    /**
     * {@code C[Mo×No] (+)= Aop·Bop} with {@code Aop[i][k] = A[i·ars + k·aks]}. Overwrites C unless
     * {@code accumulate}.
     *
     * <p>Loop nest after BLIS, with two parallel phases per column chunk so that a busy machine stalls few
     * barriers: (1) pack the chunk's B for the whole reduction, shared, in parallel over panels; (2) in parallel
     * over (row block × panel group) tasks: per KC block, pack the task's rows of A, then for each panel, for each
     * 5-row tile, the micro-kernel. A column chunk is as wide as keeps its packed B within {@link #B_FLOATS}.
     */
    private static void gemm(float[] C, int Mo, int No, int Kr, float[] A, int ars, int aks, Packer packer,
                             boolean accumulate) {
        gemm(C, Mo, No, Kr, A, ars, aks, packer, accumulate, 1);
    }

    /**
     * {@code reductionAlign}: the packer accepts reduction offsets that are multiples of this (a RowReader's column
     * alignment when the reduction runs along B's rows). When a long reduction would make a column chunk narrower
     * than {@link #MIN_CHUNK_COLS} (the output head's input gradient: 32000 rows of W, 768 columns), the reduction
     * is split into blocks that are multiples of {@link #KC}, each accumulated into C in order: otherwise every
     * narrow chunk would pack the whole of A again.
     */
    private static void gemm(float[] C, int Mo, int No, int Kr, float[] A, int ars, int aks, Packer packer,
                             boolean accumulate, int reductionAlign) {
        if (Mo == 0 || No == 0 || Kr == 0) {   // empty product: the blocking below would divide by zero
            if (!accumulate) {
                java.util.Arrays.fill(C, 0, Mo * No, 0f);
            }
            return;
        }
        int threads = Parallel.threads();
        int mBlocks = Math.max((Mo + MC_MAX - 1) / MC_MAX, Math.min(TASKS_PER_THREAD * threads, (Mo + MR - 1) / MR));
        int mc = ((Mo + mBlocks - 1) / mBlocks + MR - 1) / MR * MR;
        mBlocks = (Mo + mc - 1) / mc;
        int kBlock = Kr, wantCols = Math.min(No, MIN_CHUNK_COLS);
        if (B_FLOATS / Kr < wantCols && KC % reductionAlign == 0) {
            kBlock = Math.max(KC, B_FLOATS / wantCols / KC * KC);
        }
        int chunk = Math.max(NR, B_FLOATS / kBlock / NR * NR);
        int need = chunk * kBlock;
        var free = FREE_B.get();
        float[] bp = free.isEmpty() ? null : free.pop();
        if (bp == null || bp.length < need) {
            bp = new float[Math.max(need, B_FLOATS)];
        }
        try {
            for (int kb0 = 0; kb0 < Kr; kb0 += kBlock) {
                int kbn = Math.min(kBlock, Kr - kb0);
                for (int jc = 0; jc < No; jc += chunk) {
                    chunk(C, Mo, No, kb0, kbn, A, ars, aks, packer, accumulate || kb0 > 0, bp, jc,
                            Math.min(chunk, No - jc), mBlocks, mc, threads);
                }
            }
        } finally {
            free.push(bp);
        }
    }

    /** Columns [jc, jc + nc) of C (+)= Aop[·, kb0 .. kb0 + Kr)·Bop[kb0 .. kb0 + Kr, jc .. jc + nc). */
    private static void chunk(float[] C, int Mo, int No, int kb0, int Kr, float[] A, int ars, int aks, Packer packer,
                              boolean accumulate, float[] bp, int jc, int nc, int mBlocks, int mc, int threads) {
        int panels = (nc + NR - 1) / NR, panelStride = Kr * NR;
        Parallel.parallelForRange(panels, 1, (q0, q1) -> {
            int cols = Math.min(q1 * NR, nc) - q0 * NR;
            if (cols < (q1 - q0) * NR) {
                java.util.Arrays.fill(bp, (q1 - 1) * panelStride, q1 * panelStride, 0f);   // pad the last panel
            }
            packer.pack(bp, q0 * panelStride, kb0, Kr, jc + q0 * NR, cols);
        });
        int nGroups = Math.min(panels, Math.max(1, (TASKS_PER_THREAD * threads + mBlocks - 1) / mBlocks));
        int perGroup = (panels + nGroups - 1) / nGroups;
        int groups = (panels + perGroup - 1) / perGroup;
        Parallel.parallelFor(mBlocks * groups, task -> {
            int i0 = (task % mBlocks) * mc, rows = Math.min(mc, Mo - i0);
            int q0 = (task / mBlocks) * perGroup, q1 = Math.min(panels, q0 + perGroup);
            int j0 = jc + q0 * NR, j1 = Math.min(jc + q1 * NR, No);
            if (!accumulate) {
                for (int i = i0; i < i0 + rows; i++) {
                    java.util.Arrays.fill(C, i * No + j0, i * No + j1, 0f);
                }
            }
            int tiles = rows / MR;
            float[] ap = PACKED_A.get();
            float[] edge = new float[MR * NR];   // C's tile for a partial panel
            for (int k0 = 0; k0 < Kr; k0 += KC) {
                int kc = Math.min(KC, Kr - k0);
                // Each 5-row tile of Aop interleaved, ap[t·MR·kc + kk·MR + r]: one stream for the kernel.
                for (int t = 0; t < tiles; t++) {
                    int dst = t * MR * kc;
                    for (int kk = 0; kk < kc; kk++) {
                        int src = (i0 + t * MR) * ars + (kb0 + k0 + kk) * aks;
                        for (int r = 0; r < MR; r++) {
                            ap[dst + kk * MR + r] = A[src + r * ars];
                        }
                    }
                }
                for (int q = q0; q < q1; q++) {
                    // The panel's KC block (kc·NR floats) stays in L1 while the packed tiles of A stream from L2.
                    int j = jc + q * NR, nValid = Math.min(NR, No - j), b = q * panelStride + k0 * NR;
                    for (int t = 0; t < tiles; t++) {
                        int c = (i0 + t * MR) * No + j;
                        if (nValid == NR) {
                            kernel5(C, c, No, ap, t * MR * kc, bp, b, kc);
                        } else {   // a partial panel: through a full-width tile (see kernel5)
                            copyTile(C, c, No, edge, 0, NR, MR, nValid);
                            kernel5(edge, 0, NR, ap, t * MR * kc, bp, b, kc);
                            copyTile(edge, 0, NR, C, c, No, MR, nValid);
                        }
                    }
                    for (int i = i0 + tiles * MR; i < i0 + rows; i++) {
                        int a = i * ars + (kb0 + k0) * aks;
                        if (nValid == NR) {
                            kernel1(C, i * No + j, A, a, aks, bp, b, kc);
                        } else {
                            copyTile(C, i * No + j, No, edge, 0, NR, 1, nValid);
                            kernel1(edge, 0, A, a, aks, bp, b, kc);
                            copyTile(edge, 0, NR, C, i * No + j, No, 1, nValid);
                        }
                    }
                }
            }
        });
    }

    /**
     * C[5×NR tile] += Σ_kk ap[a + kk·MR + r]·panel[kk][·] (a packed tile of A); the tile of C starts at C[c], rows
     * ldc apart, all NR columns.
     * <p>Five rows, not six: with twelve accumulators JDK 25's C2 boxes a vector on every iteration (measured
     * 20 KB allocated per call and a third of the speed); ten stay in registers.
     *
     * <p>No masked tail here: a partial panel goes through a full-width copy of its tile (the caller's job). A masked
     * store in this method made C2 recompile it about ten times slower for every shape once a partial panel had run
     * (measured: 65 → 7 GFLOPS on the output head after rank-8 LoRA products, whose 8 columns are one partial panel).
     */
    private static void kernel5(float[] C, int c, int ldc, float[] ap, int a, float[] bp, int b, int kc) {
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F);
        FloatVector c40 = FloatVector.zero(F), c41 = FloatVector.zero(F);
        // A packed into one stream with indices stepping by constants: 157 GFLOPS against 121 for five strided
        // rows indexed by kk·stride (measured, one thread, data in L1; layout and range-check hoisting not separated).
        for (int kk = 0, ai = a, bk = b; kk < kc; kk++, ai += MR, bk += NR) {
            FloatVector b0 = FloatVector.fromArray(F, bp, bk);
            FloatVector b1 = FloatVector.fromArray(F, bp, bk + L);
            FloatVector x = FloatVector.broadcast(F, ap[ai]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, ap[ai + 1]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, ap[ai + 2]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, ap[ai + 3]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(F, ap[ai + 4]);
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
        }
        addInto(C, c, c00, c01);
        addInto(C, c + ldc, c10, c11);
        addInto(C, c + 2 * ldc, c20, c21);
        addInto(C, c + 3 * ldc, c30, c31);
        addInto(C, c + 4 * ldc, c40, c41);
    }

    /** One row of C against one panel (all NR columns): the remainder rows when Mo is not a multiple of MR. */
    private static void kernel1(float[] C, int c, float[] A, int a, int aks, float[] bp, int b, int kc) {
        FloatVector c0 = FloatVector.zero(F), c1 = FloatVector.zero(F);
        for (int kk = 0; kk < kc; kk++) {
            FloatVector x = FloatVector.broadcast(F, A[a + kk * aks]);
            c0 = x.fma(FloatVector.fromArray(F, bp, b + kk * NR), c0);
            c1 = x.fma(FloatVector.fromArray(F, bp, b + kk * NR + L), c1);
        }
        addInto(C, c, c0, c1);
    }

    /** {@code rows} rows of {@code cols} floats from src (rows sLd apart) to dst (rows dLd apart). */
    private static void copyTile(float[] src, int s, int sLd, float[] dst, int d, int dLd, int rows, int cols) {
        for (int r = 0; r < rows; r++) {
            System.arraycopy(src, s + r * sLd, dst, d + r * dLd, cols);
        }
    }

    private static void addInto(float[] C, int c, FloatVector v0, FloatVector v1) {
        FloatVector.fromArray(F, C, c).add(v0).intoArray(C, c);
        FloatVector.fromArray(F, C, c + L).add(v1).intoArray(C, c + L);
    }
}
