package dev.jlora.quant;

import dev.jlora.simd.Parallel;
import dev.jlora.simd.VectorOps;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A frozen [rows × cols] weight in QLoRA NF4 with double-quantized absmax values (see {@link Nf4}).
 *
 * <p>Storage: block b covers flat elements [64b, 64b + 64) of the row-major tensor, as in bitsandbytes (rows never
 * split a block because cols is a multiple of 64), and takes 32 bytes of {@code codes}: byte j holds element j
 * in its low nibble and element j + 32 in its high nibble. That is ggml's Q4 packing, so the Vector API decoder
 * is the Q4_0 one plus a table lookup; bitsandbytes packs pairs instead (element 2k high, 2k+1 low), so codes
 * exchanged with bitsandbytes must be repacked. {@code qAbsmax[b]} is the 8-bit dynamic-map code of
 * block b's absmax minus {@code offset}; {@code absmax2[b / 256]} is the fp32 scale of its group of 256.
 * absmax(b) = DYNAMIC[qAbsmax[b]]·absmax2[b/256] + offset; w = NF4[code]·absmax(b).
 */
public final class Nf4Matrix extends FusedMatrix {
    /**
     * Below this many tokens the matmul takes pairs of tokens: over stories110M's block weights in NF4 (two threads)
     * pairs took 0.44× the tiles' time at T = 2, 0.87× at 4, 0.85× at 6 and 1.13× at 8.
     */
    static final int PAIRS_BELOW = 8;

    private final MemorySegment codes;
    private final byte[] qAbsmax;
    private final float[] absmax2;
    private final float offset;

    private Nf4Matrix(MemorySegment codes, byte[] qAbsmax, float[] absmax2, float offset, int rows, int cols) {
        super(rows, cols);
        this.codes = codes;
        this.qAbsmax = qAbsmax;
        this.absmax2 = absmax2;
        this.offset = offset;
    }

    /**
     * Wraps stored NF4 data (codes read in place).
     *
     * @throws IllegalArgumentException if cols is not a multiple of 64 or an array has the wrong length
     */
    public static Nf4Matrix of(MemorySegment codes, byte[] qAbsmax, float[] absmax2, float offset, int rows, int cols) {
        checkCols(cols);
        long n = (long) rows * cols;
        long blocks = n / Nf4.BLOCK;
        if (codes.byteSize() != n / 2 || qAbsmax.length != blocks || absmax2.length != (blocks + Nf4.DQ_BLOCK - 1) / Nf4.DQ_BLOCK) {
            throw new IllegalArgumentException(String.format(
                    "NF4 [%d × %d] needs %,d code bytes, %,d absmax codes and %,d absmax scales; got %,d, %,d and %,d",
                    rows, cols, n / 2, blocks, (blocks + Nf4.DQ_BLOCK - 1) / Nf4.DQ_BLOCK,
                    codes.byteSize(), qAbsmax.length, absmax2.length));
        }
        return new Nf4Matrix(codes, qAbsmax.clone(), absmax2.clone(), offset, rows, cols);
    }

    private static void checkCols(int cols) {
        if (cols % Nf4.BLOCK != 0) {
            throw new IllegalArgumentException("type NF4 needs a row length divisible by " + Nf4.BLOCK + ", got " + cols);
        }
    }

    /**
     * QLoRA quantization of the rows given by {@code src}: per block absmax and nearest NF4 codes (from the exact
     * fp32 absmax, as bitsandbytes), then double quantization of the absmax values.
     */
    static Nf4Matrix quantize(int rows, int cols, QuantType.RowSource src, QuantType.RowsDone done) {
        checkCols(cols);
        long n = (long) rows * cols;
        if (n / Nf4.BLOCK > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("NF4 [" + rows + " × " + cols + "] has too many blocks for one matrix");
        }
        int blocks = (int) (n / Nf4.BLOCK);
        int perRow = cols / Nf4.BLOCK;
        MemorySegment codes = Arena.ofAuto().allocate(n / 2, 64);
        float[] absmax = new float[blocks];
        Parallel.parallelForRange(rows, 4, (r0, r1) -> {
            float[] w = new float[cols];
            QuantType.forEachRow(r0, r1, done, r -> {
                src.row(r, w);
                for (int k = 0; k < perRow; k++) {
                    int b = r * perRow + k;
                    absmax[b] = encodeBlock(w, k * Nf4.BLOCK, codes, (long) b * (Nf4.BLOCK / 2));
                }
            });
        });
        // Double quantization (QLoRA §3): subtract the mean, then 8-bit blockwise quantization with absmax per 256.
        double sum = 0;
        for (float a : absmax) sum += a;
        float offset = (float) (sum / blocks);
        int groups = (blocks + Nf4.DQ_BLOCK - 1) / Nf4.DQ_BLOCK;
        byte[] q = new byte[blocks];
        float[] absmax2 = new float[groups];
        for (int g = 0; g < groups; g++) {
            int b0 = g * Nf4.DQ_BLOCK, b1 = Math.min(blocks, b0 + Nf4.DQ_BLOCK);
            float m = 0;
            for (int b = b0; b < b1; b++) m = Math.max(m, Math.abs(absmax[b] - offset));
            absmax2[g] = m;
            float inv = m == 0 ? 0f : 1f / m;
            for (int b = b0; b < b1; b++) q[b] = (byte) Nf4.encodeDynamic((absmax[b] - offset) * inv);
        }
        return new Nf4Matrix(codes, q, absmax2, offset, rows, cols);
    }

    /** Codes of one block of 64 at w[off]; returns its absmax. */
    private static float encodeBlock(float[] w, int off, MemorySegment codes, long byteOff) {
        float amax = 0;
        for (int i = 0; i < Nf4.BLOCK; i++) amax = Math.max(amax, Math.abs(w[off + i]));
        float inv = amax == 0 ? 0f : 1f / amax;
        for (int j = 0; j < Nf4.BLOCK / 2; j++) {
            int lo = Nf4.encode(w[off + j] * inv), hi = Nf4.encode(w[off + j + Nf4.BLOCK / 2] * inv);
            codes.set(ValueLayout.JAVA_BYTE, byteOff + j, (byte) ((hi << 4) | lo));
        }
        return amax;
    }

    /** The dequantized absmax of block b (double quantization undone). */
    public float absmax(int b) {
        return Nf4.DYNAMIC[qAbsmax[b] & 0xFF] * absmax2[b / Nf4.DQ_BLOCK] + offset;
    }

    /** The packed 4-bit codes (read-only view; layout in the class comment), for writers. */
    public MemorySegment codes() {
        return codes.asReadOnly();
    }

    /** A copy of the 8-bit dynamic-map codes of the absmax values, one per block. */
    public byte[] absmaxCodes() {
        return qAbsmax.clone();
    }

    /** A copy of the fp32 scales of the absmax values, one per 256 blocks. */
    public float[] absmaxScales() {
        return absmax2.clone();
    }

    /** The mean subtracted from the absmax values before their quantization. */
    public float absmaxOffset() {
        return offset;
    }

    /** Number of 64-element blocks. */
    public int blocks() {
        return qAbsmax.length;
    }

    /** Bits of storage per parameter: codes, 8-bit absmax codes, fp32 scales per 256 and the fp32 mean. */
    public double bitsPerParameter() {
        return storageBytes() * 8.0 / ((double) rows * cols);
    }

    @Override public QuantType type() {
        return QuantType.NF4;
    }

    @Override public long storageBytes() {
        return codes.byteSize() + qAbsmax.length + 4L * absmax2.length + 4;
    }

    /** What {@link #storageBytes()} is for a [rows × cols] matrix: 4-bit codes, 8-bit absmax, fp32 second level, offset. */
    static long storageBytes(int rows, int cols) {
        long n = (long) rows * cols, blocks = n / Nf4.BLOCK;
        return n / 2 + blocks + 4L * ((blocks + Nf4.DQ_BLOCK - 1) / Nf4.DQ_BLOCK) + 4;
    }

    @Override void decode(int row, int col0, int n, float[] dst, int dstOff) {
        if (VectorDecode.AVAILABLE) {
            long e0 = (long) row * cols + col0;
            PanamaQuant.dequantizeNf4(codes, e0 / 2, qAbsmax, absmax2, offset, (int) (e0 / Nf4.BLOCK), n / Nf4.BLOCK, dst, dstOff);
        } else {
            decodeRef(row, col0, n, dst, dstOff);
        }
    }

    @Override void decodeRef(int row, int col0, int n, float[] dst, int dstOff) {
        long e0 = (long) row * cols + col0;
        int b0 = (int) (e0 / Nf4.BLOCK);
        for (int k = 0; k < n / Nf4.BLOCK; k++) {
            float a = absmax(b0 + k);
            long byteOff = (e0 + (long) k * Nf4.BLOCK) / 2;
            int d = dstOff + k * Nf4.BLOCK;
            for (int j = 0; j < Nf4.BLOCK / 2; j++) {
                int v = codes.get(ValueLayout.JAVA_BYTE, byteOff + j) & 0xFF;
                dst[d + j] = Nf4.CODE[v & 0xF] * a;
                dst[d + j + Nf4.BLOCK / 2] = Nf4.CODE[v >>> 4] * a;
            }
        }
    }

    /** A four-row kernel at L = 16 ({@link PanamaQuant#dot4Nf4}). */
    @Override boolean dotsFourRows() {
        return VectorDecode.AVAILABLE && PanamaQuant.lanes() == 16;
    }

    @Override void dotRows4(int row, int count, int stride, float[] x, float[] y) {
        int blocksPerRow = cols / Nf4.BLOCK;
        PanamaQuant.dot4Nf4(codes, (long) row * cols / 2, (long) stride * cols / 2, count, qAbsmax, absmax2, offset,
                row * blocksPerRow, stride * blocksPerRow, blocksPerRow, x, y, row, stride);
    }

    @Override int tokenPairsBelow() {
        return dotsFourRows() ? PAIRS_BELOW : 0;
    }

    @Override void dotRows4Pair(int row, int count, int stride, float[] x, int t0, int t1, float[] y, float[] lanes) {
        int blocksPerRow = cols / Nf4.BLOCK;
        PanamaQuant.dot4Nf4Pair(codes, (long) row * cols / 2, (long) stride * cols / 2, count, qAbsmax, absmax2, offset,
                row * blocksPerRow, stride * blocksPerRow, blocksPerRow, x, t0 * cols, t1 * cols, y, t0 * rows + row,
                t1 * rows + row, stride, lanes);
    }

    @Override float dotRow(int row, float[] x, int xOff) {
        if (VectorDecode.AVAILABLE) {
            return PanamaQuant.dotNf4(codes, (long) row * cols / 2, qAbsmax, absmax2, offset, row * (cols / Nf4.BLOCK),
                    cols / Nf4.BLOCK, x, xOff);
        }
        float[] buf = new float[256];
        var ops = VectorOps.get();
        float s = 0;
        for (int c = 0; c < cols; c += 256) {
            int m = Math.min(256, cols - c);
            decode(row, c, m, buf, 0);
            s += ops.dot(buf, 0, x, xOff + c, m);
        }
        return s;
    }

    @Override int columnAlign() {
        return Nf4.BLOCK;
    }

    @Override public String toString() {
        return "NF4[" + rows + " × " + cols + "]";
    }
}
