package dev.jlora.quant;

import java.lang.foreign.MemorySegment;

/** bfloat16 (the upper half of a binary32), little-endian. */
public final class BF16 implements BlockFormat {
    static final BF16 INSTANCE = new BF16();

    private BF16() {}

    /** bf16 bits → float, exact. */
    public static float toFloat(short h) {
        return Float.intBitsToFloat((h & 0xFFFF) << 16);
    }

    /**
     * float → bf16 bits as ggml's {@code ggml_compute_fp32_to_bf16}: round to nearest even; a NaN keeps its top
     * bits and is forced quiet (bit 6 of the result set).
     */
    public static short fromFloat(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) {
            return (short) ((u >>> 16) | 64);
        }
        return (short) ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16);
    }

    @Override public QuantType type() {
        return QuantType.BF16;
    }

    @Override public void dequantizeRowRef(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = toFloat(src.get(Le.SHORT, off + 2L * i));
        }
    }

    @Override public void dequantizeRow(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        dev.jlora.simd.VectorOps.get().bf16ToF32(src, off, dst, dstOff, n);
    }

    @Override public void quantizeRowRef(float[] src, int srcOff, MemorySegment dst, long off, int n) {
        for (int i = 0; i < n; i++) {
            dst.set(Le.SHORT, off + 2L * i, fromFloat(src[srcOff + i]));
        }
    }

    @Override public float dot(MemorySegment src, long off, float[] x, int xOff, int n) {
        return dev.jlora.simd.VectorOps.get().dotBf16(src, off, x, xOff, n);
    }
}
