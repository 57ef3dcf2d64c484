package dev.jlora.quant;

import java.lang.foreign.MemorySegment;

/**
 * The kernels of one row of the {@link QuantType} table: one class per format, each over a run of whole blocks
 * stored little-endian in a {@link MemorySegment} (a mapped GGUF slice or an off-heap/heap buffer).
 *
 * <p>{@code off} is the byte offset of the first block and {@code n} the number of elements, a multiple of the
 * format's block size (callers check this with {@link QuantType#rowBytes}). Bounds are checked by the segment and
 * the arrays, not up front.
 *
 * <p>The {@code Ref} methods are the specification, ported from ggml's scalar {@code dequantize_row_*} and
 * {@code quantize_row_*_ref} ({@code ggml/src/ggml-quants.c}); the tests hold them bit-exact against ggml itself.
 * {@link #dequantizeRow} may use the Vector API and is held bit-exact against {@link #dequantizeRowRef}.
 */
public sealed interface BlockFormat permits F32, F16, BF16, Q8_0, Q4_0, Q6_K, Q8_K, OffsetBlockFormat {

    /** The table row this class implements. */
    QuantType type();

    /** dst[dstOff + i] = element i of the n elements stored at {@code off} (scalar, ggml's order of operations). */
    void dequantizeRowRef(MemorySegment src, long off, float[] dst, int dstOff, int n);

    /** Same result as {@link #dequantizeRowRef}, bit for bit; formats with a Vector API decoder override it. */
    default void dequantizeRow(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        dequantizeRowRef(src, off, dst, dstOff, n);
    }

    /**
     * Quantizes src[srcOff, srcOff + n) into blocks at {@code off}: byte-identical with ggml's
     * {@code quantize_row_*_ref}, which {@code ggml_quantize_chunk} uses when no importance matrix is given.
     */
    void quantizeRowRef(float[] src, int srcOff, MemorySegment dst, long off, int n);

    /**
     * Σ W[i]·x[xOff + i] for i &lt; n, W the n elements at {@code off}. Decodes a few blocks at a time into a small
     * local buffer and dots them with the shared {@link dev.jlora.simd.VectorOps}: the row is never materialised.
     */
    default float dot(MemorySegment src, long off, float[] x, int xOff, int n) {
        QuantType t = type();
        int chunk = Math.max(t.blockSize(), 256 / t.blockSize() * t.blockSize());
        float[] buf = new float[chunk];
        var ops = dev.jlora.simd.VectorOps.get();
        float sum = 0;
        for (int i = 0; i < n; i += chunk) {
            int m = Math.min(chunk, n - i);
            dequantizeRow(src, off + t.rowBytes(i), buf, 0, m);
            sum += ops.dot(buf, 0, x, xOff + i, m);
        }
        return sum;
    }

    /**
     * What {@link #dot(MemorySegment, long, float[], int, int, float[])} needs from x, computed once per matvec for
     * all rows (Q4_K: the sums of x over each run of 32 elements); null when the format needs nothing.
     */
    default float[] dotPrepare(float[] x, int xOff, int n) {
        return null;
    }

    /** {@link #dot} given {@code prepared} = {@link #dotPrepare}(x, xOff, n) for the same x. */
    default float dot(MemorySegment src, long off, float[] x, int xOff, int n, float[] prepared) {
        return dot(src, off, x, xOff, n);
    }

    /**
     * Whether {@link #dot4} has a four-row kernel. Without one, a matvec reads rows in order: four rows a quarter
     * of the matrix apart, each read whole before the next, ran 1.3–1.5× slower than consecutive rows (Q4_0, Q4_K,
     * NF4; two threads, DRAM-resident 4096², best of 96).
     */
    default boolean hasDot4() {
        return false;
    }

    /**
     * y[yOff + i + k·yStride] = {@link #dot}(src, off + i·rowBytes + k·stride, x, 0, n) for k &lt; 4 and i &lt;
     * count (rowBytes of n elements): runs of consecutive rows, four rows per pass over x; only called when
     * {@link #hasDot4()}.
     */
    default void dot4(MemorySegment src, long off, long stride, int count, float[] x, int n, float[] y, int yOff, int yStride) {
        long rowBytes = type().rowBytes(n);
        for (int i = 0; i < count; i++) {
            for (int k = 0; k < 4; k++) {
                y[yOff + i + k * yStride] = dot(src, off + i * rowBytes + k * stride, x, 0, n);
            }
        }
    }

    /**
     * Below this many tokens (from 2) a matmul takes pairs of tokens through {@link #dot4Pair} (formats with
     * {@link #hasDot4()}) or {@link #dotPair} rather than decoded tiles; 0 without a two-token kernel. Measured over
     * stories110M's block weights on two threads, pairs took 0.36× the tiles' time at T = 2, 0.56× at 3, 0.67× at 4
     * and 0.92× at 8 in Q8_0 (1.07× at 12), 0.47×, 0.71×, 0.91× and 1.2× in Q4_0; at T = 2 0.63× in Q4_K and
     * Q5_K (1.05× at 3).
     */
    default int tokenPairsBelow() {
        return 0;
    }

    /**
     * {@link #dot4} for two tokens, x rows at {@code x0} and {@code x1} into y at {@code y0} and {@code y1} (a lone
     * token as a pair with itself), lanes summed in a fixed order through {@code lanes}; only called when
     * {@link #tokenPairsBelow()} &gt; 2 and {@link #hasDot4()}.
     */
    default void dot4Pair(MemorySegment src, long off, long stride, int count, float[] x, int x0, int x1, int n,
                          float[] y, int y0, int y1, int yStride, float[] lanes) {
        throw new UnsupportedOperationException(type() + " has no two-token kernel");
    }

    /**
     * y[y0 + i] and y[y1 + i] = {@link #dot} of row i &lt; count (from {@code off}, rows of n elements) with the x rows
     * at {@code x0} and {@code x1} (a lone token as a pair with itself), given {@code prepared0} and
     * {@code prepared1} from {@link #dotPrepare} of those rows, lanes summed in a fixed order through {@code lanes};
     * only called when {@link #tokenPairsBelow()} &gt; 2 without {@link #hasDot4()}.
     */
    default void dotPair(MemorySegment src, long off, int count, float[] x, int x0, int x1, int n, float[] prepared0,
                         float[] prepared1, float[] y, int y0, int y1, float[] lanes) {
        throw new UnsupportedOperationException(type() + " has no two-token kernel");
    }

    /** Scalar twin of {@link #dot}: dequantizes with {@link #dequantizeRowRef} and sums in double. */
    default double dotRef(MemorySegment src, long off, float[] x, int xOff, int n) {
        float[] w = new float[n];
        dequantizeRowRef(src, off, w, 0, n);
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += (double) w[i] * x[xOff + i];
        }
        return sum;
    }
}
