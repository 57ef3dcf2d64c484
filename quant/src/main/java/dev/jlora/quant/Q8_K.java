package dev.jlora.quant;

import java.lang.foreign.MemorySegment;

/**
 * ggml {@code block_q8_K}, 292 bytes per 256 values: fp32 d at 0, 256 int8 at 4, 16 int16 sums of each 16 at 260.
 * ggml uses it for activations in its k-quant dot products; w = d·q.
 */
public final class Q8_K implements BlockFormat {
    static final Q8_K INSTANCE = new Q8_K();
    static final int QK = 256, BYTES = 292;

    private Q8_K() {}

    @Override public QuantType type() {
        return QuantType.Q8_K;
    }

    @Override public void dequantizeRowRef(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        for (int b = 0; b < n / QK; b++, off += BYTES, dstOff += QK) {
            float d = src.get(Le.FLOAT, off);
            for (int j = 0; j < QK; j++) {
                dst[dstOff + j] = d * Le.s8(src, off + 4 + j);
            }
        }
    }

    /**
     * ggml {@code quantize_row_q8_K_ref}: q = min(127, nearest_int(−127/max·x)), d = 1/iscale. For an all-zero
     * block ggml leaves the 16 sums unwritten; jlora writes zeros there.
     */
    @Override public void quantizeRowRef(float[] src, int srcOff, MemorySegment dst, long off, int n) {
        for (int b = 0; b < n / QK; b++, off += BYTES, srcOff += QK) {
            float max = 0, amax = 0;
            for (int j = 0; j < QK; j++) {
                float ax = Math.abs(src[srcOff + j]);
                if (ax > amax) {
                    amax = ax;
                    max = src[srcOff + j];
                }
            }
            if (amax == 0) {
                dst.asSlice(off, BYTES).fill((byte) 0);
                continue;
            }
            float iscale = -127.f / max;
            for (int j = 0; j < QK; j++) {
                Le.put8(dst, off + 4 + j, Math.min(127, KQuants.nearestInt(iscale * src[srcOff + j])));
            }
            for (int j = 0; j < QK / 16; j++) {
                int sum = 0;
                for (int ii = 0; ii < 16; ii++) sum += Le.s8(dst, off + 4 + 16 * j + ii);
                dst.set(Le.SHORT, off + 260 + 2L * j, (short) sum);
            }
            dst.set(Le.FLOAT, off, 1 / iscale);
        }
    }
}
