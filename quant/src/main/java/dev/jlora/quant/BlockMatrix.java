package dev.jlora.quant;

import java.lang.foreign.MemorySegment;
import java.util.Optional;

/**
 * A {@link QuantMatrix} whose rows are runs of ggml blocks of one {@link BlockFormat}, read in place from a
 * {@link MemorySegment} (a mapped file slice is never copied). Row o starts at byte o·rowBytes.
 */
final class BlockMatrix extends FusedMatrix {
    private final BlockFormat format;
    private final MemorySegment data;
    private final long rowBytes;

    BlockMatrix(BlockFormat format, MemorySegment data, int rows, int cols) {
        super(rows, cols);
        this.format = format;
        this.rowBytes = format.type().rowBytes(cols);
        long need = rowBytes * rows;
        if (data.byteSize() != need) {
            throw new IllegalArgumentException(String.format(
                    "%s matrix [%d × %d] needs %,d bytes (%,d per row), got a segment of %,d bytes",
                    format.type(), rows, cols, need, rowBytes, data.byteSize()));
        }
        // A file mapping is read through a plain native view of the same memory and scope (closing the mapping still
        // invalidates it): slicing a mapped segment copies its mapping state (MappedMemorySegmentImpl.dup), which
        // took 12 % of a Q8_0 decode step's samples and made the row-sliced kernels 1.6× slower than on the view.
        this.data = data.isMapped() ? data.reinterpret(data.byteSize()) : data;
    }

    @Override public QuantType type() {
        return format.type();
    }

    @Override public long storageBytes() {
        return data.byteSize();
    }

    @Override public Optional<MemorySegment> storedBlocks() {
        return Optional.of(data.asReadOnly());
    }

    /**
     * F32 goes to simd's kernels reading the segment in place for T &lt; 4 (dot products) and T ≥ {@value #GEMM_MIN_T}
     * (packed GEMM); in between, and for every other format, to the fused tile path, whose row copies cost less than
     * the GEMM's panel packing (stories110M F32, two threads: 2.5× faster at T = 4, 1.9× at 16, 1.3× at 64).
     */
    @Override public void matmul(float[] x, int T, float[] y) {
        if (format == F32.INSTANCE && (T < 4 || T >= GEMM_MIN_T)) {
            checkShapes("matmul", x, T, cols, y, rows);
            dev.jlora.simd.Matmul.matmulABt(y, x, data, 0, T, cols, rows);
        } else {
            super.matmul(x, T, y);
        }
    }

    @Override void decode(int row, int col0, int n, float[] dst, int dstOff) {
        format.dequantizeRow(data, row * rowBytes + format.type().rowBytes(col0), dst, dstOff, n);
    }

    @Override void decodeRef(int row, int col0, int n, float[] dst, int dstOff) {
        format.dequantizeRowRef(data, row * rowBytes + format.type().rowBytes(col0), dst, dstOff, n);
    }

    @Override float dotRow(int row, float[] x, int xOff) {
        return format.dot(data, row * rowBytes, x, xOff, cols);
    }

    @Override float[] dotPrepare(float[] x, int xOff) {
        return format.dotPrepare(x, xOff, cols);
    }

    @Override float dotRow(int row, float[] x, float[] prepared) {
        return format.dot(data, row * rowBytes, x, 0, cols, prepared);
    }

    @Override boolean dotsFourRows() {
        return format.hasDot4();
    }

    @Override void dotRows4(int row, int count, int stride, float[] x, float[] y) {
        format.dot4(data, row * rowBytes, stride * rowBytes, count, x, cols, y, row, stride);
    }

    @Override int tokenPairsBelow() {
        return format.tokenPairsBelow();
    }

    @Override void dotRowsPair(int row, int count, float[] x, int t0, int t1, float[] prepared0, float[] prepared1,
                               float[] y, float[] lanes) {
        format.dotPair(data, row * rowBytes, count, x, t0 * cols, t1 * cols, cols, prepared0, prepared1, y,
                t0 * rows + row, t1 * rows + row, lanes);
    }

    @Override void dotRows4Pair(int row, int count, int stride, float[] x, int t0, int t1, float[] y, float[] lanes) {
        format.dot4Pair(data, row * rowBytes, stride * rowBytes, count, x, t0 * cols, t1 * cols, cols, y,
                t0 * rows + row, t1 * rows + row, stride, lanes);
    }

    @Override int columnAlign() {
        return format.type().blockSize();
    }

    @Override public String toString() {
        return type() + "[" + rows + " × " + cols + "]";
    }
}
