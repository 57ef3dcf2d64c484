package dev.jlora.quant;

import java.lang.foreign.MemorySegment;

/** IEEE binary32, little-endian: the identity format. */
public final class F32 implements BlockFormat {
    static final F32 INSTANCE = new F32();

    private F32() {}

    @Override public QuantType type() {
        return QuantType.F32;
    }

    @Override public void dequantizeRowRef(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = src.get(Le.FLOAT, off + 4L * i);
        }
    }

    @Override public void dequantizeRow(MemorySegment src, long off, float[] dst, int dstOff, int n) {
        dev.jlora.simd.VectorOps.get().loadF32(src, off, dst, dstOff, n);
    }

    @Override public void quantizeRowRef(float[] src, int srcOff, MemorySegment dst, long off, int n) {
        for (int i = 0; i < n; i++) {
            dst.set(Le.FLOAT, off + 4L * i, src[srcOff + i]);
        }
    }

    @Override public float dot(MemorySegment src, long off, float[] x, int xOff, int n) {
        return dev.jlora.simd.VectorOps.get().dot(src, off, x, xOff, n);
    }
}
