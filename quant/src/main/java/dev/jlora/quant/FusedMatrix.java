package dev.jlora.quant;

import dev.jlora.simd.Matmul;
import dev.jlora.simd.Parallel;
import dev.jlora.simd.RowReader;
import dev.jlora.simd.VectorOps;

/**
 * The fused dequantize + matmul shared by every stored format. Subclasses only decode a slice of a row
 * ({@link #decode}) and dot a row with a vector ({@link #dotRow}); the full fp32 W is never built.
 *
 * <ul>
 *   <li>Forward, T = 1 (decode): fused dots straight from the blocks, rows split over {@link Parallel}; formats
 *       with a four-row kernel take four rows a quarter of the matrix apart per pass ({@link #dotRows4}).</li>
 *   <li>Forward, T ≥ {@value #GEMM_MIN_T}, and backward, T ≥ {@value #GEMM_MIN_T_BACKWARD} (training with long
 *       sequences): simd's packed GEMM
 *       ({@link Matmul#matmulABt(float[], float[], RowReader, int, int, int)},
 *       {@link Matmul#matmulABAccumulate}) reads W's rows through {@link #decode}: each weight is decoded once per
 *       call into packed panels that the register-blocked micro-kernel streams for all T rows.</li>
 *   <li>Forward, 2 ≤ T &lt; {@link #tokenPairsBelow()} for formats with a two-token kernel (Q8_0, Q4_0, NF4,
 *       Q4_K, Q5_K: batched decode of a few sequences): the T = 1 pass, two tokens per pass over the weights
 *       ({@link #dotRows4Pair}, {@link #dotRowsPair}).</li>
 *   <li>Forward, 1 &lt; T &lt; {@value #GEMM_MIN_T} otherwise (prefill, batched decode, short training batches): a tile of up
 *       to 64 rows × kc columns is decoded once into the thread's buffer of 256 KiB and multiplied with all T rows of
 *       x (4 × 4 register blocks, leftover tokens 4 rows × 1), so each weight block is decoded once per call, not once
 *       per token.</li>
 *   <li>Backward dx += dy·W, T = 1: columns split over {@link Parallel} in block-aligned chunks (each task owns its
 *       slice of dx); within a chunk, R row slices are decoded once and applied with axpys, four rows per pass.</li>
 *   <li>Backward, 4 ≤ T &lt; {@value #GEMM_MIN_T_BACKWARD}: tasks are (column chunk × block of dx rows); a tile of up
 *       to 128 rows × the chunk is decoded once and multiplied into the block's rows with a register-blocked kernel
 *       (4 rows × 2 vectors).</li>
 * </ul>
 * The {@code Ref} twins decode with the scalar reference and accumulate one product at a time in float.
 */
abstract class FusedMatrix implements QuantMatrix {
    /** Floats of decoded weights per task buffer (256 KiB: a tile stays in L2). */
    private static final int TILE_FLOATS = 64 * 1024;
    /**
     * Each thread's tile buffer, kept between calls: allocating (and so zeroing) it per task added to a T = 4 forward
     * through stories110M's block weights about the time of a whole T = 1 pass (16.4 → 11.6 ms; T = 1: 3.8–4.5).
     */
    private static final ThreadLocal<float[]> TILE = ThreadLocal.withInitial(() -> new float[TILE_FLOATS]);
    /** Column chunk width of the backward pass, in elements (rounded up to a block). */
    private static final int COL_CHUNK = 512;
    /** Most weight rows in one decoded tile of the T &gt; 1 backward (a 2-vector strip of it, 16 KiB, stays in L1). */
    private static final int BACKWARD_TILE_ROWS = 128;

    /** From this many rows of x on, the forward goes to simd's packed GEMM. */
    static final int GEMM_MIN_T = 256;
    /**
     * From this many rows of dy on, the input gradient goes to simd's packed GEMM. Both thresholds are where the two
     * paths ran level over stories110M's block weights (Q8_0 and Q4_K, two threads): below them the packed GEMM
     * decodes and transposes every weight into panels that too few rows use (at T = 16 it took 2.3× the tile
     * path's time forward, 1.7× backward); above them its larger register blocks win (1.1–1.3× at T = 512–1024).
     */
    static final int GEMM_MIN_T_BACKWARD = 128;

    protected final int rows, cols;
    /** W's rows as the GEMM reads them: decoded slices. */
    private final RowReader decodedRows = new RowReader() {
        @Override public void read(int row, int col0, int n, float[] dst, int dstOff) {
            decode(row, col0, n, dst, dstOff);
        }

        @Override public int columnAlign() {
            return FusedMatrix.this.columnAlign();
        }
    };

    FusedMatrix(int rows, int cols) {
        if (rows <= 0 || cols <= 0) {
            throw new IllegalArgumentException("matrix shape must be positive, got [" + rows + " × " + cols + "]");
        }
        this.rows = rows;
        this.cols = cols;
    }

    @Override public final int rows() {
        return rows;
    }

    @Override public final int cols() {
        return cols;
    }

    /** dst[dstOff + i] = W[row, col0 + i] for i &lt; n; col0 and n are multiples of {@link #columnAlign()} (n may end the row). */
    abstract void decode(int row, int col0, int n, float[] dst, int dstOff);

    /** Scalar reference of {@link #decode}, bit-identical to it. */
    abstract void decodeRef(int row, int col0, int n, float[] dst, int dstOff);

    /** Σ_i W[row, i]·x[xOff + i]. */
    abstract float dotRow(int row, float[] x, int xOff);

    /** What row dots with the x row at xOff need from it, computed once for all rows (null: nothing). */
    float[] dotPrepare(float[] x, int xOff) {
        return null;
    }

    /** {@link #dotRow}(row, x, 0) given {@code prepared} = {@link #dotPrepare}(x, 0). */
    float dotRow(int row, float[] x, float[] prepared) {
        return dotRow(row, x, 0);
    }

    /** Whether {@link #dotRows4} has a four-row kernel (the T = 1 matmul then uses it). */
    boolean dotsFourRows() {
        return false;
    }

    /**
     * y[o + k·stride] = {@link #dotRow}(o + k·stride, x, 0) for k &lt; 4 and row ≤ o &lt; row + count: four rows per
     * pass over x. A whole run per call, so that a kernel slices its four streams once, not once per row (see
     * {@link PanamaQuant#dot4Q8_0}).
     */
    void dotRows4(int row, int count, int stride, float[] x, float[] y) {
        for (int o = row; o < row + count; o++) {
            for (int k = 0; k < 4; k++) {
                y[o + k * stride] = dotRow(o + k * stride, x, 0);
            }
        }
    }

    /**
     * Below this many tokens (from 2), the matmul takes pairs of tokens through {@link #dotRows4Pair} instead of
     * decoded tiles; 0 without a two-token kernel.
     */
    int tokenPairsBelow() {
        return 0;
    }

    /**
     * {@link #dotRows4} for tokens t0 and t1 of x (T rows of cols) into rows t0 and t1 of y (T rows of rows), each
     * weight decoded once for both; t1 = t0 for a lone token. Lanes are summed in a fixed order through
     * {@code lanes}; only called when {@link #tokenPairsBelow()} &gt; 2.
     */
    void dotRows4Pair(int row, int count, int stride, float[] x, int t0, int t1, float[] y, float[] lanes) {
        throw new UnsupportedOperationException(this + " has no two-token kernel");
    }

    /**
     * Rows row … row + count − 1 with tokens t0 and t1 (t1 = t0 for a lone token), as {@link #dotRows4Pair} for
     * formats without a four-row kernel; {@code prepared0} and {@code prepared1} from {@link #dotPrepare} of those
     * tokens' rows of x.
     */
    void dotRowsPair(int row, int count, float[] x, int t0, int t1, float[] prepared0, float[] prepared1, float[] y,
                     float[] lanes) {
        throw new UnsupportedOperationException(this + " has no two-token kernel");
    }

    /** Column granularity of {@link #decode} (the block size). */
    abstract int columnAlign();

    /** Most bytes of one stream in a {@link #dotRows4} run (its kernels index a run with int offsets). */
    private static final long MAX_RUN_BYTES = 1L << 30;

    /** Bytes of the four streams a pass of token pairs reads before the next pair reads them again (from L2). */
    private static final long PAIR_RUN_BYTES = 256 << 10;

    /** Smallest share of a T = 1 matmul worth a fork/join task. */
    private static final int MATVEC_MIN_TASK_MACS = 1 << 15;

    @Override public void dequantizeRow(int row, float[] out, int off) {
        checkRow(row);
        decode(row, 0, cols, out, off);
    }

    /** Scalar twin of {@link #dequantizeRow}. */
    public void dequantizeRowRef(int row, float[] out, int off) {
        checkRow(row);
        decodeRef(row, 0, cols, out, off);
    }

    @Override public void matmul(float[] x, int T, float[] y) {
        checkShapes("matmul", x, T, cols, y, rows);
        if (T >= GEMM_MIN_T) {
            Matmul.matmulABt(y, x, decodedRows, T, cols, rows);
            return;
        }
        if (T == 1) {
            // Each task gets at least MATVEC_MIN_TASK_MACS multiply-adds: below that, forking costs more than it saves
            // (small decode matvecs ran slower on two threads than on one).
            int minRows = Math.max(8, MATVEC_MIN_TASK_MACS / cols);
            if (!dotsFourRows()) {
                float[] prepared = dotPrepare(x, 0);
                Parallel.parallelForRange(rows, minRows, (o0, o1) -> {
                    for (int o = o0; o < o1; o++) {
                        y[o] = dotRow(o, x, prepared);
                    }
                });
                return;
            }
            // Four rows per pass over x, a quarter of the matrix apart: four sequential streams (dotRows4).
            int quarter = rows / 4;
            int runRows = rowsWithin(MAX_RUN_BYTES);   // short enough for the kernels' int offsets
            Parallel.parallelForRange(quarter, Math.max(2, minRows / 4), (q0, q1) -> {
                for (int q = q0; q < q1; q += runRows) {
                    dotRows4(q, Math.min(runRows, q1 - q), quarter, x, y);
                }
            });
            for (int o = 4 * quarter; o < rows; o++) {
                y[o] = dotRow(o, x, 0);
            }
            return;
        }
        if (T < tokenPairsBelow()) {
            matmulTokenPairs(x, T, y);
            return;
        }
        // GEMM-style blocking: a tile of R rows × kc columns of W is decoded once (≤ TILE_FLOATS floats, in L2) and
        // multiplied with the matching kc columns of all T rows of x, 4 rows × 4 tokens at a time (16 accumulators);
        // partial sums over the column chunks accumulate in y. Large R keeps the re-reads of x per row tile few. Whole
        // rows when at least 8 fit: the tile is then one contiguous run of W, read from memory as one stream (64 half
        // rows of a 2048-wide matrix were 64 short streams, and a 16-token prefill of a 1.1B model ran 1.3× slower).
        int align = columnAlign();
        int wholeRows = TILE_FLOATS / cols / 4 * 4;
        int R = Math.min(rows, wholeRows >= 8 ? Math.min(64, wholeRows) : 64);
        int kc = Math.min(cols, Math.max(align, TILE_FLOATS / R / align * align));
        boolean blocked = VectorDecode.AVAILABLE;
        Parallel.parallelForRange((rows + R - 1) / R, (tile0, tile1) -> {
            float[] buf = TILE.get();
            float[] out = new float[16];
            float[] lanes = blocked ? new float[16 * PanamaQuant.lanes()] : null;
            for (int tile = tile0; tile < tile1; tile++) {
                int o0 = tile * R, r = Math.min(R, rows - o0);
                for (int c0 = 0; c0 < cols; c0 += kc) {
                    int w = Math.min(kc, cols - c0);
                    boolean first = c0 == 0;
                    for (int k = 0; k < r; k++) {
                        decode(o0 + k, c0, w, buf, k * w);
                    }
                    int k4 = blocked ? r / 4 * 4 : 0, t4 = blocked ? T / 4 * 4 : 0;
                    for (int k = 0; k < k4; k += 4) {
                        for (int t = 0; t < t4; t += 4) {
                            PanamaQuant.dot4x4(buf, k * w, w, x, t * cols + c0, cols, w, lanes, out);
                            for (int q = 0; q < 16; q++) {
                                int yi = (t + (q & 3)) * rows + o0 + k + (q >> 2);
                                y[yi] = first ? out[q] : y[yi] + out[q];
                            }
                        }
                    }
                    // Tokens left over after the 4 × 4 blocks: four rows per load of x, then the rows left over, each
                    // row kept in L1 across the tokens (token by token over the whole tile, T = 15 ran at about half
                    // the per-token speed of T = 16). Every sum runs in one fixed order (no lane reductions), as
                    // bit-reproducible training needs.
                    for (int k = 0; k < k4; k += 4) {
                        for (int t = t4; t < T; t++) {
                            PanamaQuant.dot4x1(buf, k * w, w, x, t * cols + c0, w, lanes, out);
                            for (int q = 0; q < 4; q++) {
                                int yi = t * rows + o0 + k + q;
                                y[yi] = first ? out[q] : y[yi] + out[q];
                            }
                        }
                    }
                    for (int k = k4; k < r; k++) {
                        for (int t = 0; t < T; t++) {
                            float d = 0;
                            for (int i = 0, wi = k * w, xi = t * cols + c0; i < w; i++) {
                                d += buf[wi + i] * x[xi + i];
                            }
                            int yi = t * rows + o0 + k;
                            y[yi] = first ? d : y[yi] + d;
                        }
                    }
                }
            }
        });
    }

    /**
     * A few tokens (2 ≤ T &lt; {@link #tokenPairsBelow()}): the T = 1 pass (over four streams where the format has a
     * four-row kernel), two tokens per pass, in runs whose weights stay in L2 for the next pair. Every sum runs in a
     * fixed order, as on the tile path.
     */
    private void matmulTokenPairs(float[] x, int T, float[] y) {
        int minRows = Math.max(8, MATVEC_MIN_TASK_MACS / (cols * T));
        if (!dotsFourRows()) {
            float[][] prepared = new float[T][];
            for (int t = 0; t < T; t++) {
                prepared[t] = dotPrepare(x, t * cols);
            }
            int runRows = rowsWithin(PAIR_RUN_BYTES);
            Parallel.parallelForRange(rows, minRows, (o0, o1) -> {
                float[] lanes = new float[2 * PanamaQuant.lanes()];
                for (int o = o0; o < o1; o += runRows) {
                    int n = Math.min(runRows, o1 - o);
                    for (int t = 0; t < T; t += 2) {
                        int t1 = Math.min(t + 1, T - 1);
                        dotRowsPair(o, n, x, t, t1, prepared[t], prepared[t1], y, lanes);
                    }
                }
            });
            return;
        }
        int quarter = rows / 4;
        int runRows = rowsWithin(PAIR_RUN_BYTES / 4);   // four streams
        Parallel.parallelForRange(quarter, Math.max(2, minRows / 4), (q0, q1) -> {
            float[] lanes = new float[8 * PanamaQuant.lanes()];
            for (int q = q0; q < q1; q += runRows) {
                int n = Math.min(runRows, q1 - q);
                for (int t = 0; t < T; t += 2) {
                    dotRows4Pair(q, n, quarter, x, t, Math.min(t + 1, T - 1), y, lanes);
                }
            }
        });
        float[] w = new float[cols];
        for (int o = 4 * quarter; o < rows; o++) {   // the rows left over: decoded, then summed in index order
            decode(o, 0, cols, w, 0);
            for (int t = 0; t < T; t++) {
                float d = 0;
                for (int i = 0; i < cols; i++) {
                    d += w[i] * x[t * cols + i];
                }
                y[t * rows + o] = d;
            }
        }
    }

    /** How many rows (at least one) fit in {@code bytes} of storage: the length of a run of rows for the kernels. */
    private int rowsWithin(long bytes) {
        return (int) Math.max(1, bytes / Math.max(1, storageBytes() / rows));
    }

    /** Scalar twin of {@link #matmul}: decode each row with the reference, then float dots in index order. */
    public void matmulRef(float[] x, int T, float[] y) {
        checkShapes("matmul", x, T, cols, y, rows);
        float[] w = new float[cols];
        for (int o = 0; o < rows; o++) {
            decodeRef(o, 0, cols, w, 0);
            for (int t = 0; t < T; t++) {
                float s = 0;
                for (int i = 0; i < cols; i++) {
                    s += x[t * cols + i] * w[i];
                }
                y[t * rows + o] = s;
            }
        }
    }

    @Override public void matmulBackwardInput(float[] dy, int T, float[] dx) {
        checkShapes("matmulBackwardInput", dx, T, cols, dy, rows);
        if (T >= GEMM_MIN_T_BACKWARD) {
            Matmul.matmulABAccumulate(dx, dy, decodedRows, T, rows, cols);
        } else if (T >= 4 && VectorDecode.AVAILABLE) {
            backwardInputTiled(dy, T, dx);
        } else {
            backwardInputAxpys(dy, T, dx);
        }
    }

    /**
     * dx += dy·W for T ≥ 4 as a small GEMM per decoded tile: a tile of up to {@value #BACKWARD_TILE_ROWS} rows × one
     * column chunk of W (≤ {@link #TILE_FLOATS} floats) is decoded once and applied to a block of dx rows with
     * {@link PanamaQuant#tileAccumulate} (4 rows of dx × 2 vectors in registers over the whole tile). Tasks are
     * (column chunk × block of dx rows), so a narrow matrix (dim 288: a single chunk) still keeps every thread busy;
     * each tile is decoded once per row block, which is cheap next to the T/blocks FMAs per weight it feeds.
     */
    private void backwardInputTiled(float[] dy, int T, float[] dx) {
        int align = columnAlign();
        int width = Math.max(align, (COL_CHUNK + align - 1) / align * align);
        int chunks = (cols + width - 1) / width;
        int R = Math.max(1, Math.min(Math.min(rows, BACKWARD_TILE_ROWS), TILE_FLOATS / width));
        // Enough tasks for two per thread, but row blocks of at least 16 rows (a multiple of 4 for the kernel).
        int wantBlocks = Math.max(1, Math.min((T + 15) / 16, (2 * Parallel.threads() + chunks - 1) / chunks));
        int tBlock = ((T + wantBlocks - 1) / wantBlocks + 3) / 4 * 4;
        int blocks = (T + tBlock - 1) / tBlock;
        var ops = VectorOps.get();
        Parallel.parallelForRange(chunks * blocks, (task0, task1) -> {
            float[] buf = TILE.get();
            for (int task = task0; task < task1; task++) {
                int ch = task % chunks, tb = task / chunks;
                int c0 = ch * width, w = Math.min(width, cols - c0);
                int t0 = tb * tBlock, t1 = Math.min(T, t0 + tBlock), tn = (t1 - t0) / 4 * 4;
                for (int o0 = 0; o0 < rows; o0 += R) {
                    int r = Math.min(R, rows - o0);
                    for (int k = 0; k < r; k++) {
                        decode(o0 + k, c0, w, buf, k * w);
                    }
                    PanamaQuant.tileAccumulate(tn, dy, t0 * rows + o0, rows, buf, 0, w, r, dx, t0 * cols + c0, cols, w);
                    for (int t = t0 + tn; t < t1; t++) {   // the last < 4 rows of the block
                        for (int k = 0; k < r; k++) {
                            float g = dy[t * rows + o0 + k];
                            if (g != 0) {
                                ops.axpy(g, buf, k * w, dx, t * cols + c0, w);
                            }
                        }
                    }
                }
            }
        });
    }

    /** dx += dy·W for T &lt; 4 (or without the Vector API): decoded row slices applied with axpys. */
    private void backwardInputAxpys(float[] dy, int T, float[] dx) {
        int align = columnAlign();
        int width = Math.max(align, (COL_CHUNK + align - 1) / align * align);
        int chunks = (cols + width - 1) / width;
        int R = Math.max(1, Math.min(16, TILE_FLOATS / width));
        var ops = VectorOps.get();
        boolean blocked = VectorDecode.AVAILABLE;
        Parallel.parallelForRange(chunks, (ch0, ch1) -> {
            float[] buf = TILE.get();
            for (int ch = ch0; ch < ch1; ch++) {
                int c0 = ch * width, w = Math.min(width, cols - c0);
                for (int o0 = 0; o0 < rows; o0 += R) {
                    int r = Math.min(R, rows - o0);
                    for (int k = 0; k < r; k++) {
                        decode(o0 + k, c0, w, buf, k * width);
                    }
                    int k4 = blocked ? r / 4 * 4 : 0;
                    for (int t = 0; t < T; t++) {
                        int g0 = t * rows + o0;
                        for (int k = 0; k < k4; k += 4) {
                            PanamaQuant.axpy4(dy[g0 + k], dy[g0 + k + 1], dy[g0 + k + 2], dy[g0 + k + 3],
                                    buf, k * width, width, dx, t * cols + c0, w);
                        }
                        for (int k = k4; k < r; k++) {
                            float g = dy[g0 + k];
                            if (g != 0) {
                                ops.axpy(g, buf, k * width, dx, t * cols + c0, w);
                            }
                        }
                    }
                }
            }
        });
    }

    /** Scalar twin of {@link #matmulBackwardInput}. */
    public void matmulBackwardInputRef(float[] dy, int T, float[] dx) {
        checkShapes("matmulBackwardInput", dx, T, cols, dy, rows);
        float[] w = new float[cols];
        for (int o = 0; o < rows; o++) {
            decodeRef(o, 0, cols, w, 0);
            for (int t = 0; t < T; t++) {
                float g = dy[t * rows + o];
                for (int i = 0; i < cols; i++) {
                    dx[t * cols + i] += g * w[i];
                }
            }
        }
    }

    private void checkRow(int row) {
        if (row < 0 || row >= rows) {
            throw new IndexOutOfBoundsException("row " + row + " of a [" + rows + " × " + cols + "] " + type() + " matrix");
        }
    }

    final void checkShapes(String op, float[] in, int T, int inWidth, float[] out, int outWidth) {
        if (T < 0) {
            throw new IllegalArgumentException(op + ": T must be ≥ 0, got " + T);
        }
        if ((long) T * inWidth > in.length || (long) T * outWidth > out.length) {
            throw new IllegalArgumentException(String.format(
                    "%s on [%d × %d] %s with T=%d needs arrays of %d (IC side) and %d (OC side) floats, got %d and %d",
                    op, rows, cols, type(), T, (long) T * cols, (long) T * rows,
                    in.length, out.length));
        }
    }
}
