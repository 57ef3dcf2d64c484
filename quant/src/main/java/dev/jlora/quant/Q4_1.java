package dev.jlora.quant;

import java.lang.foreign.MemorySegment;

/**
 * ggml {@code block_q4_1}, 20 bytes per 32 weights: fp16 d at 0, fp16 m at 2, 16 nibble bytes at 4 (low nibbles
 * elements 0..15, high 16..31); w = q·d + m.
 */
public final class Q4_1 implements OffsetBlockFormat {
    static final Q4_1 INSTANCE = new Q4_1();
    static final int QK = 32, BYTES = 20;

    private Q4_1() {}

    @Override public QuantType type() {
        return QuantType.Q4_1;
    }

    @Override public void dequantizeRowRef(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        for (int b = 0; b < n / QK; b++, off += BYTES, dstOff += QK) {
            float d = Le.f16(src, off), m = Le.f16(src, off + 2);
            for (int j = 0; j < QK / 2; j++) {
                int q = Le.u8(src, off + 4 + j);
                dst[dstOff + j] = (q & 0x0F) * d + m;
                dst[dstOff + j + QK / 2] = (q >>> 4) * d + m;
            }
        }
    }

    @Override public void dequantizeRow(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        if (VectorDecode.AVAILABLE) {
            PanamaQuant.dequantizeQ4_1(src, off, dst, dstOff, n / QK);
        } else {
            dequantizeRowRef(src, off, dst, dstOff, n);
        }
    }

    @Override public float dotWithSums(MemorySegment src, long off, float[] x, int xOff, int n, float[] sums32) {
        return PanamaQuant.dotQ4_1(src, off, x, xOff, n / QK, sums32);
    }

    /** ggml {@code quantize_row_q4_1_ref}: d = (max − min)/15, m = min. */
    @Override public void quantizeRowRef(float[] src, int srcOff, MemorySegment dst, long off, int n) {
        for (int b = 0; b < n / QK; b++, off += BYTES, srcOff += QK) {
            float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
            for (int j = 0; j < QK; j++) {
                float v = src[srcOff + j];
                if (v < min) min = v;
                if (v > max) max = v;
            }
            float d = (max - min) / ((1 << 4) - 1);
            float id = d != 0 ? 1.0f / d : 0.0f;
            Le.putF16(dst, off, d);
            Le.putF16(dst, off + 2, min);
            for (int j = 0; j < QK / 2; j++) {
                float x0 = (src[srcOff + j] - min) * id;
                float x1 = (src[srcOff + QK / 2 + j] - min) * id;
                int q0 = Math.min(15, (byte) (int) (x0 + 0.5f));
                int q1 = Math.min(15, (byte) (int) (x1 + 0.5f));
                Le.put8(dst, off + 4 + j, (q0 & 0xFF) | (q1 << 4));
            }
        }
    }
}
