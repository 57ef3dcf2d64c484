package dev.jlora.quant;

import java.lang.foreign.MemorySegment;

/**
 * ggml {@code block_q5_0}, 22 bytes per 32 weights: fp16 d at 0, uint32 qh at 2 (bit j = fifth bit of element j),
 * 16 nibble bytes at 6 (low nibbles elements 0..15, high 16..31); w = (q − 16)·d.
 */
public final class Q5_0 implements OffsetBlockFormat {
    static final Q5_0 INSTANCE = new Q5_0();
    static final int QK = 32, BYTES = 22;

    private Q5_0() {}

    @Override public QuantType type() {
        return QuantType.Q5_0;
    }

    @Override public void dequantizeRowRef(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        for (int b = 0; b < n / QK; b++, off += BYTES, dstOff += QK) {
            float d = Le.f16(src, off);
            int qh = src.get(Le.INT, off + 2);
            for (int j = 0; j < QK / 2; j++) {
                int q = Le.u8(src, off + 6 + j);
                int h0 = ((qh >>> j) << 4) & 0x10;
                int h1 = (qh >>> (j + 12)) & 0x10;
                dst[dstOff + j] = (((q & 0x0F) | h0) - 16) * d;
                dst[dstOff + j + QK / 2] = (((q >>> 4) | h1) - 16) * d;
            }
        }
    }

    @Override public void dequantizeRow(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        if (VectorDecode.AVAILABLE) {
            PanamaQuant.dequantizeQ5(src, off, dst, dstOff, n / QK, false);
        } else {
            dequantizeRowRef(src, off, dst, dstOff, n);
        }
    }

    @Override public float dotWithSums(MemorySegment src, long off, float[] x, int xOff, int n, float[] sums32) {
        return PanamaQuant.dotQ5(src, off, x, xOff, n / QK, sums32, false);
    }

    /** ggml {@code quantize_row_q5_0_ref}: d = max/−16 with max the signed value of largest magnitude. */
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
            float d = max / -16;
            float id = d != 0 ? 1.0f / d : 0.0f;
            Le.putF16(dst, off, d);
            int qh = 0;
            for (int j = 0; j < QK / 2; j++) {
                float x0 = src[srcOff + j] * id;
                float x1 = src[srcOff + QK / 2 + j] * id;
                int q0 = Math.min(31, (byte) (int) (x0 + 16.5f)) & 0xFF;
                int q1 = Math.min(31, (byte) (int) (x1 + 16.5f)) & 0xFF;
                Le.put8(dst, off + 6 + j, (q0 & 0x0F) | ((q1 & 0x0F) << 4));
                qh |= ((q0 & 0x10) >>> 4) << j;
                qh |= ((q1 & 0x10) >>> 4) << (j + QK / 2);
            }
            dst.set(Le.INT, off + 2, qh);
        }
    }
}
