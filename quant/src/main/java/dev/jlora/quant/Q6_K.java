package dev.jlora.quant;

import java.lang.foreign.MemorySegment;

/**
 * ggml {@code block_q6_K}, 210 bytes per 256 weights: 128 bytes ql (low 4 bits) at 0, 64 bytes qh (high 2 bits)
 * at 128, 16 int8 scales at 192, fp16 d at 208; w = d·scale·(q − 32), one scale per 16 elements.
 */
public final class Q6_K implements BlockFormat {
    static final Q6_K INSTANCE = new Q6_K();
    static final int QK = 256, BYTES = 210;

    private Q6_K() {}

    @Override public QuantType type() {
        return QuantType.Q6_K;
    }

    /** ggml {@code dequantize_row_q6_K}, on a heap copy of the blocks (array reads decode much faster here). */
    @Override public void dequantizeRowRef(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        byte[] q = new byte[n / QK * BYTES];
        MemorySegment.copy(src, java.lang.foreign.ValueLayout.JAVA_BYTE, off, q, 0, q.length);
        for (int b = 0; b < n / QK; b++) {
            int base = b * BYTES;
            float d = Float.float16ToFloat((short) ((q[base + 208] & 0xFF) | (q[base + 209] << 8)));
            int ql = base, qh = base + 128, sc = base + 192;
            for (int n0 = 0; n0 < QK; n0 += 128, ql += 64, qh += 32, sc += 8, dstOff += 128) {
                for (int l = 0; l < 32; l++) {
                    int is = l / 16;
                    int h = q[qh + l] & 0xFF, lo = q[ql + l] & 0xFF, lo2 = q[ql + l + 32] & 0xFF;
                    int q1 = ((lo & 0xF) | ((h & 3) << 4)) - 32;
                    int q2 = ((lo2 & 0xF) | (((h >>> 2) & 3) << 4)) - 32;
                    int q3 = ((lo >>> 4) | (((h >>> 4) & 3) << 4)) - 32;
                    int q4 = ((lo2 >>> 4) | (((h >>> 6) & 3) << 4)) - 32;
                    dst[dstOff + l] = d * q[sc + is] * q1;
                    dst[dstOff + l + 32] = d * q[sc + is + 2] * q2;
                    dst[dstOff + l + 64] = d * q[sc + is + 4] * q3;
                    dst[dstOff + l + 96] = d * q[sc + is + 6] * q4;
                }
            }
        }
    }

    @Override public void dequantizeRow(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        if (VectorDecode.AVAILABLE) {
            PanamaQuant.dequantizeQ6_K(src, off, dst, dstOff, n / QK);
        } else {
            dequantizeRowRef(src, off, dst, dstOff, n);
        }
    }

    @Override public float dot(MemorySegment src, long off, float[] x, int xOff, int n) {
        if (VectorDecode.AVAILABLE) {
            return PanamaQuant.dotQ6_K(src, off, x, xOff, n / QK);
        }
        return BlockFormat.super.dot(src, off, x, xOff, n);
    }

    /** ggml {@code quantize_row_q6_K_ref}: make_qx_quants(16, 32, rmse 1) per 16, 8-bit scales with d = max/−128. */
    @Override public void quantizeRowRef(float[] src, int srcOff, MemorySegment dst, long off, int n) {
        byte[] L = new byte[QK];
        float[] scales = new float[QK / 16];
        for (int b = 0; b < n / QK; b++, off += BYTES, srcOff += QK) {
            float maxScale = 0, maxAbsScale = 0;
            for (int ib = 0; ib < QK / 16; ib++) {
                float scale = KQuants.makeQxQuants(16, 32, src, srcOff + 16 * ib, L, 16 * ib, 1);
                scales[ib] = scale;
                if (Math.abs(scale) > maxAbsScale) {
                    maxAbsScale = Math.abs(scale);
                    maxScale = scale;
                }
            }
            if (maxAbsScale < KQuants.GROUP_MAX_EPS) {
                dst.asSlice(off, BYTES).fill((byte) 0);
                continue;
            }
            float iscale = -128.f / maxScale;
            Le.putF16(dst, off + 208, 1 / iscale);
            for (int ib = 0; ib < QK / 16; ib++) {
                Le.put8(dst, off + 192 + ib, Math.min(127, KQuants.nearestInt(iscale * scales[ib])));
            }
            float dAll = Le.f16(dst, off + 208);
            for (int j = 0; j < QK / 16; j++) {
                float d = dAll * Le.s8(dst, off + 192 + j);
                if (d == 0) continue; // ggml keeps the levels from make_qx_quants for this group
                for (int ii = 0; ii < 16; ii++) {
                    int l = KQuants.nearestInt(src[srcOff + 16 * j + ii] / d);
                    L[16 * j + ii] = (byte) (Math.max(-32, Math.min(31, l)) + 32);
                }
            }
            long ql = off, qh = off + 128;
            for (int j = 0; j < QK; j += 128, ql += 64, qh += 32) {
                for (int l = 0; l < 32; l++) {
                    int q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                    Le.put8(dst, ql + l, q1 | (q3 << 4));
                    Le.put8(dst, ql + l + 32, q2 | (q4 << 4));
                    Le.put8(dst, qh + l, ((L[j + l] & 0xFF) >>> 4) | (((L[j + l + 32] & 0xFF) >>> 4) << 2)
                            | (((L[j + l + 64] & 0xFF) >>> 4) << 4) | (((L[j + l + 96] & 0xFF) >>> 4) << 6));
                }
            }
        }
    }
}
