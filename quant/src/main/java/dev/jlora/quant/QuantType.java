package dev.jlora.quant;

import dev.jlora.simd.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The one table of storage formats: block size (elements) and bytes per block, with the ggml type id
 * where ggml has the format. Every other part of jlora reads formats from here: the kernels of a row
 * ({@link #format()}), wrapping stored data as a {@link QuantMatrix} ({@link #wrap}) and quantizing into a format
 * ({@link #quantize(float[], int, int)}, {@link #quantize(QuantMatrix)}).
 */
public enum QuantType {
    //     block  bytes  ggml id  layout (source)
    F32   (  1,     4,     0),  // IEEE binary32
    F16   (  1,     2,     1),  // IEEE binary16
    Q4_0  ( 32,    18,     2),  // fp16 d, 16 bytes of nibbles, q − 8         (ggml-common.h block_q4_0)
    Q4_1  ( 32,    20,     3),  // fp16 d, fp16 m, 16 bytes of nibbles         (block_q4_1)
    Q5_0  ( 32,    22,     6),  // fp16 d, 4 bytes high bits, 16 bytes nibbles (block_q5_0)
    Q5_1  ( 32,    24,     7),  // fp16 d, fp16 m, 4 bytes qh, 16 bytes qs     (block_q5_1)
    Q8_0  ( 32,    34,     8),  // fp16 d, 32 × int8                           (block_q8_0)
    Q4_K  (256,   144,    12),  // fp16 d, dmin, 12 bytes scales, 128 qs       (block_q4_K)
    Q5_K  (256,   176,    13),  // fp16 d, dmin, 12 scales, 32 qh, 128 qs      (block_q5_K)
    Q6_K  (256,   210,    14),  // 128 ql, 64 qh, 16 int8 scales, fp16 d       (block_q6_K)
    Q8_K  (256,   292,    15),  // fp32 d, 256 × int8, 16 × int16 bsums        (block_q8_K)
    BF16  (  1,     2,    30),  // bfloat16
    NF4   ( 64,    32,    -1);  // QLoRA NormalFloat4: 64 nibbles; absmax kept beside the codes (see Nf4)

    private final int blockSize;
    private final int bytesPerBlock;
    private final int ggmlId;

    QuantType(int blockSize, int bytesPerBlock, int ggmlId) {
        this.blockSize = blockSize;
        this.bytesPerBlock = bytesPerBlock;
        this.ggmlId = ggmlId;
    }

    /** Elements per block. */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per block of {@link #blockSize()} elements. */
    public int bytesPerBlock() {
        return bytesPerBlock;
    }

    /** ggml's {@code enum ggml_type} value, or -1 when ggml has no such format. */
    public int ggmlId() {
        return ggmlId;
    }

    /** Bytes of one row of {@code n} elements; n must be a multiple of the block size. */
    public long rowBytes(long n) {
        if (n % blockSize != 0) {
            throw new IllegalArgumentException("type " + this + " needs a row length divisible by " + blockSize + ", got " + n);
        }
        return n / blockSize * bytesPerBlock;
    }

    /** Bytes a [rows × cols] matrix of this type takes: rows × {@link #rowBytes}, and NF4's absmax values beside. */
    public long matrixBytes(int rows, int cols) {
        return this == NF4 ? Nf4Matrix.storageBytes(rows, cols) : rows * rowBytes(cols);
    }

    /** The format with ggml type id {@code id}, or null if jlora does not know it. */
    public static QuantType fromGgmlId(int id) {
        for (QuantType t : values()) {
            if (t.ggmlId == id) {
                return t;
            }
        }
        return null;
    }

    /** Whether {@link #format()} exists: every row but NF4, whose absmax values live beside the codes. */
    public boolean isBlockFormat() {
        return this != NF4;
    }

    /**
     * The kernels of this row (dequantize, reference quantize, fused dot).
     *
     * @throws UnsupportedOperationException for NF4, which is not a self-contained block format (see {@link Nf4Matrix})
     */
    public BlockFormat format() {
        // Fully qualified: inside the enum, the simple names denote the constants.
        return switch (this) {
            case F32 -> dev.jlora.quant.F32.INSTANCE;
            case F16 -> dev.jlora.quant.F16.INSTANCE;
            case BF16 -> dev.jlora.quant.BF16.INSTANCE;
            case Q4_0 -> dev.jlora.quant.Q4_0.INSTANCE;
            case Q4_1 -> dev.jlora.quant.Q4_1.INSTANCE;
            case Q5_0 -> dev.jlora.quant.Q5_0.INSTANCE;
            case Q5_1 -> dev.jlora.quant.Q5_1.INSTANCE;
            case Q8_0 -> dev.jlora.quant.Q8_0.INSTANCE;
            case Q4_K -> dev.jlora.quant.Q4_K.INSTANCE;
            case Q5_K -> dev.jlora.quant.Q5_K.INSTANCE;
            case Q6_K -> dev.jlora.quant.Q6_K.INSTANCE;
            case Q8_K -> dev.jlora.quant.Q8_K.INSTANCE;
            case NF4 -> throw new UnsupportedOperationException(
                    "NF4 keeps double-quantized absmax values beside its codes; it has no self-contained block "
                            + "layout: use NF4.quantize(...) or Nf4Matrix.of(...)");
        };
    }

    /**
     * Wraps {@code data} ({@code rows × rowBytes(cols)} bytes, row-major ggml blocks, little-endian) as a matrix,
     * reading it in place: a mapped file slice stays mapped and is never copied to the heap. The kernels read
     * it from the shared pool's threads, so the segment must be heap, global, auto or shared-arena memory (a
     * confined arena fails with WrongThreadException), and must stay alive as long as the matrix.
     *
     * @throws IllegalArgumentException if cols is not a multiple of the block size or the segment size differs
     * @throws UnsupportedOperationException for NF4 (use {@link Nf4Matrix#of})
     */
    public QuantMatrix wrap(MemorySegment data, int rows, int cols) {
        rowBytes(cols);
        return new BlockMatrix(format(), data, rows, cols);
    }

    /**
     * Quantizes w ([rows × cols], row-major fp32) into this format: ggml's reference quantizers (byte-identical
     * with {@code ggml_quantize_chunk} without importance matrix), or QLoRA's NF4 with double quantization.
     * The blocks live off-heap, freed when the matrix is unreachable.
     */
    public QuantMatrix quantize(float[] w, int rows, int cols) {
        if ((long) rows * cols > w.length) {
            throw new IllegalArgumentException("quantize to " + this + ": [" + rows + " × " + cols + "] needs "
                    + (long) rows * cols + " floats, got " + w.length);
        }
        return quantizeRows(rows, cols, (row, dst) -> System.arraycopy(w, row * cols, dst, 0, cols), RowsDone.NONE);
    }

    /** Re-quantizes another matrix into this format, one dequantized row at a time (never the whole fp32 W). */
    public QuantMatrix quantize(QuantMatrix src) {
        return quantize(src, RowsDone.NONE);
    }

    /**
     * {@link #quantize(QuantMatrix)}, telling {@code done} after each run of at most {@link #RELEASE_ROWS} source
     * rows that they have been read and will not be read again (from the worker thread that read them; runs of
     * different threads may be reported in any order). A loader uses it to release the pages of a memory-mapped
     * source as it goes, so that at most a few row blocks of it are resident at any time.
     */
    public QuantMatrix quantize(QuantMatrix src, RowsDone done) {
        return quantizeRows(src.rows(), src.cols(), (row, dst) -> src.dequantizeRow(row, dst, 0), done);
    }

    /** Rows reported together to a {@link RowsDone}: 64 rows of a 4096-wide F32 matrix are 1 MiB. */
    public static final int RELEASE_ROWS = 64;

    /** Told which source rows {@code [from, to)} a quantizer has finished reading. */
    @FunctionalInterface
    public interface RowsDone {
        RowsDone NONE = (from, to) -> { };

        void rows(int from, int to);
    }

    /** Source of fp32 rows for {@link #quantizeRows}. */
    @FunctionalInterface
    interface RowSource {
        void row(int row, float[] dst);
    }

    /** Runs {@code body} for rows r0 ≤ r &lt; r1 in order, reporting every {@link #RELEASE_ROWS} of them to {@code done}. */
    static void forEachRow(int r0, int r1, RowsDone done, java.util.function.IntConsumer body) {
        for (int start = r0; start < r1; start += RELEASE_ROWS) {
            int end = Math.min(r1, start + RELEASE_ROWS);
            for (int r = start; r < end; r++) {
                body.accept(r);
            }
            done.rows(start, end);
        }
    }

    private QuantMatrix quantizeRows(int rows, int cols, RowSource src, RowsDone done) {
        if (rows <= 0 || cols <= 0) {
            throw new IllegalArgumentException("quantize to " + this + ": shape must be positive, got [" + rows + " × " + cols + "]");
        }
        if (this == NF4) {
            return Nf4Matrix.quantize(rows, cols, src, done);
        }
        long rowBytes = rowBytes(cols);
        BlockFormat f = format();
        MemorySegment data = Arena.ofAuto().allocate(rowBytes * rows, 64);
        Parallel.parallelForRange(rows, 4, (r0, r1) -> {
            float[] buf = new float[cols];
            forEachRow(r0, r1, done, r -> {
                src.row(r, buf);
                f.quantizeRowRef(buf, 0, data, r * rowBytes, cols);
            });
        });
        return new BlockMatrix(f, data, rows, cols);
    }
}
