package dev.jlora.quant;

import java.lang.foreign.MemorySegment;

/** IEEE binary16, little-endian. Also the fp16 scale conversions every block format uses. */
public final class F16 implements BlockFormat {
    static final F16 INSTANCE = new F16();

    private F16() {}

    /** fp16 bits → float, exact (as ggml's {@code GGML_FP16_TO_FP32}). */
    public static float toFloat(short h) {
        return Float.float16ToFloat(h);
    }

    /**
     * float → fp16 bits as ggml's {@code ggml_compute_fp32_to_fp16} (ggml-impl.h): round to nearest even,
     * overflow to ±inf, and every NaN becomes the quiet NaN 0x7E00 with the input's sign
     * ({@link Float#floatToFloat16} would keep payload bits instead).
     */
    public static short fromFloat(float f) {
        if (Float.isNaN(f)) {
            return (short) (((Float.floatToRawIntBits(f) >>> 16) & 0x8000) | 0x7E00);
        }
        return Float.floatToFloat16(f);
    }

    @Override public QuantType type() {
        return QuantType.F16;
    }

    @Override public void dequantizeRowRef(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = toFloat(src.get(Le.SHORT, off + 2L * i));
        }
    }

    @Override public void dequantizeRow(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        dev.jlora.simd.VectorOps.get().f16ToF32(src, off, dst, dstOff, n);
    }

    @Override public void quantizeRowRef(float[] src, int srcOff, MemorySegment dst, long off, int n) {
        for (int i = 0; i < n; i++) {
            dst.set(Le.SHORT, off + 2L * i, fromFloat(src[srcOff + i]));
        }
    }

    @Override public float dot(MemorySegment src, long off, float[] x, int xOff, int n) {
        return dev.jlora.simd.VectorOps.get().dotF16(src, off, x, xOff, n);
    }
}
