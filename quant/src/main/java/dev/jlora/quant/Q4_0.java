package dev.jlora.quant;

import java.lang.foreign.MemorySegment;

/**
 * ggml {@code block_q4_0} (ggml-common.h), 18 bytes per 32 weights: fp16 d at 0, then 16 bytes at 2 whose low
 * nibbles are elements 0..15 and high nibbles elements 16..31; w = (q − 8)·d.
 */
public final class Q4_0 implements BlockFormat {
    static final Q4_0 INSTANCE = new Q4_0();
    static final int QK = 32, BYTES = 18;

    private Q4_0() {}

    @Override public QuantType type() {
        return QuantType.Q4_0;
    }

    @Override public void dequantizeRowRef(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        for (int b = 0; b < n / QK; b++, off += BYTES, dstOff += QK) {
            float d = Le.f16(src, off);
            for (int j = 0; j < QK / 2; j++) {
                int q = Le.u8(src, off + 2 + j);
                dst[dstOff + j] = ((q & 0x0F) - 8) * d;
                dst[dstOff + j + QK / 2] = ((q >>> 4) - 8) * d;
            }
        }
    }

    @Override public void dequantizeRow(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        if (VectorDecode.AVAILABLE) {
            PanamaQuant.dequantizeQ4_0(src, off, dst, dstOff, n / QK);
        } else {
            dequantizeRowRef(src, off, dst, dstOff, n);
        }
    }

    @Override public float dot(MemorySegment src, long off, float[] x, int xOff, int n) {
        if (VectorDecode.AVAILABLE) {
            return PanamaQuant.dotQ4_0(src, off, x, xOff, n / QK);
        }
        return BlockFormat.super.dot(src, off, x, xOff, n);
    }

    /** A four-row kernel at L = 16 ({@link PanamaQuant#dot4Q4_0}); at L = 8 rows are read one at a time. */
    @Override public boolean hasDot4() {
        return VectorDecode.AVAILABLE && PanamaQuant.lanes() == 16;
    }

    @Override public void dot4(MemorySegment src, long off, long stride, int count, float[] x, int n, float[] y, int yOff, int yStride) {
        PanamaQuant.dot4Q4_0(src, off, stride, count, x, n / QK, y, yOff, yStride);
    }

    @Override public int tokenPairsBelow() {
        return hasDot4() ? 8 : 0;
    }

    @Override public void dot4Pair(MemorySegment src, long off, long stride, int count, float[] x, int x0, int x1, int n,
                                   float[] y, int y0, int y1, int yStride, float[] lanes) {
        PanamaQuant.dot4Q4_0Pair(src, off, stride, count, x, x0, x1, n / QK, y, y0, y1, yStride, lanes);
    }

    /** ggml {@code quantize_row_q4_0_ref}: d = max/−8 where max is the signed value of largest magnitude. */
    @Override public void quantizeRowRef(float[] src, int srcOff, MemorySegment dst, long off, int n) {
        for (int b = 0; b < n / QK; b++, off += BYTES, srcOff += QK) {
            float amax = 0, max = 0;
            for (int j = 0; j < QK; j++) {
                float v = src[srcOff + j];
                if (amax < Math.abs(v)) {
                    amax = Math.abs(v);
                    max = v;
                }
            }
            float d = max / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            Le.putF16(dst, off, d);
            for (int j = 0; j < QK / 2; j++) {
                float x0 = src[srcOff + j] * id;
                float x1 = src[srcOff + QK / 2 + j] * id;
                // C: MIN(15, (int8_t)(x + 8.5f)); the cast truncates toward zero.
                int q0 = Math.min(15, (byte) (int) (x0 + 8.5f));
                int q1 = Math.min(15, (byte) (int) (x1 + 8.5f));
                Le.put8(dst, off + 2 + j, (q0 & 0xFF) | (q1 << 4));
            }
        }
    }
}
