package dev.jlora.simd;

/**
 * A matrix operand that is not a plain {@code float[]}: its rows are read as fp32 slices on demand (a mapped fp32
 * segment, or a frozen weight in a block format that the caller decodes). The GEMM kernels of {@link Matmul} pack
 * what they read, so each element is read about once per product, whatever the other operand's row count.
 *
 * <p>Implementations must be safe to call from the pool's threads at once (reads only).
 */
public interface RowReader {
    /**
     * {@code dst[dstOff + i] = M[row, col0 + i]} for {@code i < n}. {@code col0} and {@code n} are multiples of
     * {@link #columnAlign()}, except that {@code col0 + n} may be the row's end.
     */
    void read(int row, int col0, int n, float[] dst, int dstOff);

    /** Column granularity of {@link #read} (a block format's block size; 1 for fp32). */
    default int columnAlign() {
        return 1;
    }
}
