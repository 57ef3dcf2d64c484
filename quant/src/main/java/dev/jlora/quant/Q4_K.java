package dev.jlora.quant;

import java.lang.foreign.MemorySegment;

/**
 * ggml {@code block_q4_K}, 144 bytes per 256 weights: fp16 d at 0, fp16 dmin at 2, 12 bytes of packed 6-bit
 * scales and mins at 4 ({@code get_scale_min_k4}), 128 nibble bytes at 16. Each 64 elements use 32 bytes: low
 * nibbles are sub-block 2k, high nibbles sub-block 2k+1; w = d·sc·q − dmin·m.
 */
public final class Q4_K implements OffsetBlockFormat {
    static final Q4_K INSTANCE = new Q4_K();
    static final int QK = 256, BYTES = 144;

    private Q4_K() {}

    @Override public QuantType type() {
        return QuantType.Q4_K;
    }

    @Override public void dequantizeRowRef(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        for (int b = 0; b < n / QK; b++, off += BYTES) {
            float d = Le.f16(src, off), min = Le.f16(src, off + 2);
            long q = off + 16;
            for (int j = 0, is = 0; j < QK; j += 64, is += 2, q += 32) {
                float d1 = d * KQuants.scaleK4(src, off + 4, is), m1 = min * KQuants.minK4(src, off + 4, is);
                float d2 = d * KQuants.scaleK4(src, off + 4, is + 1), m2 = min * KQuants.minK4(src, off + 4, is + 1);
                for (int l = 0; l < 32; l++) dst[dstOff++] = d1 * (Le.u8(src, q + l) & 0xF) - m1;
                for (int l = 0; l < 32; l++) dst[dstOff++] = d2 * (Le.u8(src, q + l) >>> 4) - m2;
            }
        }
    }

    @Override public void dequantizeRow(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        if (VectorDecode.AVAILABLE) {
            PanamaQuant.dequantizeQ4_K(src, off, dst, dstOff, n / QK);
        } else {
            dequantizeRowRef(src, off, dst, dstOff, n);
        }
    }

    /** Two tokens only: a lone third token costs a whole pair, and from T = 3 on the decoded tiles win. */
    @Override public int tokenPairsBelow() {
        return VectorDecode.AVAILABLE ? 3 : 0;
    }

    @Override public void dotPair(MemorySegment src, long off, int count, float[] x, int x0, int x1, int n, float[] prepared0,
                                  float[] prepared1, float[] y, int y0, int y1, float[] lanes) {
        for (int i = 0; i < count; i++, off += (long) BYTES * (n / QK)) {
            PanamaQuant.dotQ4_KOrQ5_KPair(src, off, x, x0, x1, n / QK, prepared0, prepared1, false, y, y0 + i, y1 + i, lanes);
        }
    }

    @Override public float dotWithSums(MemorySegment src, long off, float[] x, int xOff, int n, float[] sums32) {
        return PanamaQuant.dotQ4_KOrQ5_K(src, off, x, xOff, n / QK, sums32, false);
    }

    /** ggml {@code quantize_row_q4_K_ref}: weighted scale/min search per 32 (make_qkx2_quants, −1 + 0.1·k, 20 steps). */
    @Override public void quantizeRowRef(float[] src, int srcOff, MemorySegment dst, long off, int n) {
        byte[] L = new byte[QK];
        for (int b = 0; b < n / QK; b++, off += BYTES, srcOff += QK) {
            KQuants.quantizeScaleMinBlock(src, srcOff, dst, off, L, 15, -1.f, 0.1f, 20);
            long q = off + 16;
            for (int j = 0; j < QK; j += 64, q += 32) {
                for (int l = 0; l < 32; l++) Le.put8(dst, q + l, L[j + l] | (L[j + l + 32] << 4));
            }
        }
    }
}
