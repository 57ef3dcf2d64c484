package dev.jlora.quant;

import java.lang.foreign.MemorySegment;

/** ggml {@code block_q8_0}, 34 bytes per 32 weights: fp16 d at 0, 32 int8 at 2; w = q·d. */
public final class Q8_0 implements BlockFormat {
    static final Q8_0 INSTANCE = new Q8_0();
    static final int QK = 32, BYTES = 34;

    private Q8_0() {}

    @Override public QuantType type() {
        return QuantType.Q8_0;
    }

    @Override public void dequantizeRowRef(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        for (int b = 0; b < n / QK; b++, off += BYTES, dstOff += QK) {
            float d = Le.f16(src, off);
            for (int j = 0; j < QK; j++) {
                dst[dstOff + j] = Le.s8(src, off + 2 + j) * d;
            }
        }
    }

    @Override public void dequantizeRow(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        if (VectorDecode.AVAILABLE) {
            PanamaQuant.dequantizeQ8_0(src, off, dst, dstOff, n / QK);
        } else {
            dequantizeRowRef(src, off, dst, dstOff, n);
        }
    }

    @Override public float dot(MemorySegment src, long off, float[] x, int xOff, int n) {
        if (VectorDecode.AVAILABLE) {
            return PanamaQuant.dotQ8_0(src, off, x, xOff, n / QK);
        }
        return BlockFormat.super.dot(src, off, x, xOff, n);
    }

    @Override public boolean hasDot4() {
        return VectorDecode.AVAILABLE;
    }

    @Override public void dot4(MemorySegment src, long off, long stride, int count, float[] x, int n, float[] y, int yOff, int yStride) {
        if (VectorDecode.AVAILABLE) {
            PanamaQuant.dot4Q8_0(src, off, stride, count, x, n / QK, y, yOff, yStride);
        } else {
            BlockFormat.super.dot4(src, off, stride, count, x, n, y, yOff, yStride);
        }
    }

    @Override public int tokenPairsBelow() {
        return VectorDecode.AVAILABLE ? 12 : 0;
    }

    @Override public void dot4Pair(MemorySegment src, long off, long stride, int count, float[] x, int x0, int x1, int n,
                                   float[] y, int y0, int y1, int yStride, float[] lanes) {
        PanamaQuant.dot4Q8_0Pair(src, off, stride, count, x, x0, x1, n / QK, y, y0, y1, yStride, lanes);
    }

    /** ggml {@code quantize_row_q8_0_ref}: d = amax/127, q = roundf(x/d). */
    @Override public void quantizeRowRef(float[] src, int srcOff, MemorySegment dst, long off, int n) {
        for (int b = 0; b < n / QK; b++, off += BYTES, srcOff += QK) {
            float amax = 0;
            for (int j = 0; j < QK; j++) {
                amax = Math.max(amax, Math.abs(src[srcOff + j]));
            }
            float d = amax / ((1 << 7) - 1);
            float id = d != 0 ? 1.0f / d : 0.0f;
            Le.putF16(dst, off, d);
            for (int j = 0; j < QK; j++) {
                Le.put8(dst, off + 2 + j, roundf(src[srcOff + j] * id));
            }
        }
    }

    /** C's {@code roundf}: halves away from zero ({@link Math#round} rounds them up). Exact in double. */
    static int roundf(float x) {
        return (int) Math.copySign(Math.floor(Math.abs((double) x) + 0.5), x);
    }
}
