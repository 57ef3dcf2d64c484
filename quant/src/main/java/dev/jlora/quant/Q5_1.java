package dev.jlora.quant;

import java.lang.foreign.MemorySegment;

/**
 * ggml {@code block_q5_1}, 24 bytes per 32 weights: fp16 d at 0, fp16 m at 2, uint32 qh at 4, 16 nibble bytes
 * at 8; w = q·d + m with q the 5-bit value.
 */
public final class Q5_1 implements OffsetBlockFormat {
    static final Q5_1 INSTANCE = new Q5_1();
    static final int QK = 32, BYTES = 24;

    private Q5_1() {}

    @Override public QuantType type() {
        return QuantType.Q5_1;
    }

    @Override public void dequantizeRowRef(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        for (int b = 0; b < n / QK; b++, off += BYTES, dstOff += QK) {
            float d = Le.f16(src, off), m = Le.f16(src, off + 2);
            int qh = src.get(Le.INT, off + 4);
            for (int j = 0; j < QK / 2; j++) {
                int q = Le.u8(src, off + 8 + j);
                int h0 = ((qh >>> j) << 4) & 0x10;
                int h1 = (qh >>> (j + 12)) & 0x10;
                dst[dstOff + j] = ((q & 0x0F) | h0) * d + m;
                dst[dstOff + j + QK / 2] = ((q >>> 4) | h1) * d + m;
            }
        }
    }

    @Override public void dequantizeRow(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        if (VectorDecode.AVAILABLE) {
            PanamaQuant.dequantizeQ5(src, off, dst, dstOff, n / QK, true);
        } else {
            dequantizeRowRef(src, off, dst, dstOff, n);
        }
    }

    @Override public float dotWithSums(MemorySegment src, long off, float[] x, int xOff, int n, float[] sums32) {
        return PanamaQuant.dotQ5(src, off, x, xOff, n / QK, sums32, true);
    }

    /** ggml {@code quantize_row_q5_1_ref}: d = (max − min)/31, m = min. */
    @Override public void quantizeRowRef(float[] src, int srcOff, MemorySegment dst, long off, int n) {
        for (int b = 0; b < n / QK; b++, off += BYTES, srcOff += QK) {
            float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
            for (int j = 0; j < QK; j++) {
                float v = src[srcOff + j];
                if (v < min) min = v;
                if (v > max) max = v;
            }
            float d = (max - min) / ((1 << 5) - 1);
            float id = d != 0 ? 1.0f / d : 0.0f;
            Le.putF16(dst, off, d);
            Le.putF16(dst, off + 2, min);
            int qh = 0;
            for (int j = 0; j < QK / 2; j++) {
                float x0 = (src[srcOff + j] - min) * id;
                float x1 = (src[srcOff + QK / 2 + j] - min) * id;
                int q0 = ((int) (x0 + 0.5f)) & 0xFF;
                int q1 = ((int) (x1 + 0.5f)) & 0xFF;
                Le.put8(dst, off + 8 + j, (q0 & 0x0F) | ((q1 & 0x0F) << 4));
                qh |= ((q0 & 0x10) >>> 4) << j;
                qh |= ((q1 & 0x10) >>> 4) << (j + QK / 2);
            }
            dst.set(Le.INT, off + 4, qh);
        }
    }
}
