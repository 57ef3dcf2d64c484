package dev.jlora.quant;

import java.lang.foreign.MemorySegment;

/**
 * ggml {@code block_q5_K}, 176 bytes per 256 weights: fp16 d at 0, fp16 dmin at 2, 12 scale bytes at 4, 32 bytes
 * qh at 16 (bit 2k/2k+1 of qh[l] = fifth bit of element l of sub-block 2k/2k+1), 128 nibble bytes at 48.
 */
public final class Q5_K implements OffsetBlockFormat {
    static final Q5_K INSTANCE = new Q5_K();
    static final int QK = 256, BYTES = 176;

    private Q5_K() {}

    @Override public QuantType type() {
        return QuantType.Q5_K;
    }

    /** ggml {@code dequantize_row_q5_K}, on a heap copy of the blocks (array reads decode much faster here). */
    @Override public void dequantizeRowRef(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        byte[] q = new byte[n / QK * BYTES];
        MemorySegment.copy(src, java.lang.foreign.ValueLayout.JAVA_BYTE, off, q, 0, q.length);
        for (int b = 0; b < n / QK; b++) {
            int base = b * BYTES;
            float d = Float.float16ToFloat((short) ((q[base] & 0xFF) | (q[base + 1] << 8)));
            float min = Float.float16ToFloat((short) ((q[base + 2] & 0xFF) | (q[base + 3] << 8)));
            int ql = base + 48, qh = base + 16;
            int u1 = 1, u2 = 2;
            for (int j = 0, is = 0; j < QK; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
                float d1 = d * KQuants.scaleK4(q, base + 4, is), m1 = min * KQuants.minK4(q, base + 4, is);
                float d2 = d * KQuants.scaleK4(q, base + 4, is + 1), m2 = min * KQuants.minK4(q, base + 4, is + 1);
                for (int l = 0; l < 32; l++) {
                    int lo = q[ql + l] & 0xFF, h = q[qh + l];
                    dst[dstOff + l] = d1 * ((lo & 0xF) + ((h & u1) != 0 ? 16 : 0)) - m1;
                    dst[dstOff + l + 32] = d2 * ((lo >>> 4) + ((h & u2) != 0 ? 16 : 0)) - m2;
                }
                dstOff += 64;
            }
        }
    }

    @Override public void dequantizeRow(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        if (VectorDecode.AVAILABLE) {
            PanamaQuant.dequantizeQ5_K(src, off, dst, dstOff, n / QK);
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
            PanamaQuant.dotQ4_KOrQ5_KPair(src, off, x, x0, x1, n / QK, prepared0, prepared1, true, y, y0 + i, y1 + i, lanes);
        }
    }

    @Override public float dotWithSums(MemorySegment src, long off, float[] x, int xOff, int n, float[] sums32) {
        return PanamaQuant.dotQ4_KOrQ5_K(src, off, x, xOff, n / QK, sums32, true);
    }

    /** ggml {@code quantize_row_q5_K_ref}: as Q4_K with 31 levels (make_qkx2_quants, −0.5 + 0.1·k, 15 steps). */
    @Override public void quantizeRowRef(float[] src, int srcOff, MemorySegment dst, long off, int n) {
        byte[] L = new byte[QK];
        for (int b = 0; b < n / QK; b++, off += BYTES, srcOff += QK) {
            KQuants.quantizeScaleMinBlock(src, srcOff, dst, off, L, 31, -0.5f, 0.1f, 15);
            long qh = off + 16, ql = off + 48;
            int[] h = new int[32];
            int m1 = 1, m2 = 2;
            for (int n0 = 0; n0 < QK; n0 += 64, m1 <<= 2, m2 <<= 2, ql += 32) {
                for (int j = 0; j < 32; j++) {
                    int l1 = L[n0 + j], l2 = L[n0 + j + 32];
                    if (l1 > 15) {
                        l1 -= 16;
                        h[j] |= m1;
                    }
                    if (l2 > 15) {
                        l2 -= 16;
                        h[j] |= m2;
                    }
                    Le.put8(dst, ql + j, l1 | (l2 << 4));
                }
            }
            for (int j = 0; j < 32; j++) Le.put8(dst, qh + j, h[j]);
        }
    }
}
