package dev.jlora.simd;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link VectorOps} on the incubating Vector API with {@link FloatVector#SPECIES_PREFERRED}. The only class that
 * imports {@code jdk.incubator.vector}; {@link VectorOpsProvider} loads it by name after checking the module is
 * there, so its species constants are never initialised on a JVM without it.
 *
 * <p>Loops run over {@code F.loopBound(n)} with two to four independent accumulators and finish with a scalar
 * tail. Summation order therefore differs from {@link ScalarOps}; the tests bound the difference.
 */
public final class PanamaOps implements VectorOps {

    /** The only instance. */
    public static final PanamaOps INSTANCE = new PanamaOps();

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ScalarOps S = ScalarOps.INSTANCE;

    private PanamaOps() {}

    @Override
    public String name() {
        return "panama-" + F.vectorBitSize();
    }

    // ---------------------------------------------------------------- fp32 vector basics

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        int L = F.length();
        var acc0 = FloatVector.zero(F);
        var acc1 = FloatVector.zero(F);
        var acc2 = FloatVector.zero(F);
        var acc3 = FloatVector.zero(F);
        int i = 0;
        for (int bound = n - 4 * L; i <= bound; i += 4 * L) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
            acc1 = FloatVector.fromArray(F, a, aOff + i + L).fma(FloatVector.fromArray(F, b, bOff + i + L), acc1);
            acc2 = FloatVector.fromArray(F, a, aOff + i + 2 * L).fma(FloatVector.fromArray(F, b, bOff + i + 2 * L), acc2);
            acc3 = FloatVector.fromArray(F, a, aOff + i + 3 * L).fma(FloatVector.fromArray(F, b, bOff + i + 3 * L), acc3);
        }
        for (int bound = F.loopBound(n); i < bound; i += L) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
        }
        float s = acc0.add(acc1).add(acc2.add(acc3)).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += a[aOff + i] * b[bOff + i];
        }
        return s;
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        var va = FloatVector.broadcast(F, alpha);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            FloatVector.fromArray(F, x, xOff + i).fma(va, FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] += alpha * x[xOff + i];
        }
    }

    @Override
    public void scale(float alpha, float[] x, int off, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            FloatVector.fromArray(F, x, off + i).mul(alpha).intoArray(x, off + i);
        }
        for (; i < n; i++) {
            x[off + i] *= alpha;
        }
    }

    @Override
    public float sum(float[] x, int off, int n) {
        int L = F.length();
        var acc0 = FloatVector.zero(F);
        var acc1 = FloatVector.zero(F);
        int i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            acc0 = acc0.add(FloatVector.fromArray(F, x, off + i));
            acc1 = acc1.add(FloatVector.fromArray(F, x, off + i + L));
        }
        for (int bound = F.loopBound(n); i < bound; i += L) {
            acc0 = acc0.add(FloatVector.fromArray(F, x, off + i));
        }
        float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += x[off + i];
        }
        return s;
    }

    @Override
    public float max(float[] x, int off, int n) {
        ScalarOps.checkNonEmpty(n, "max");
        int i = 0;
        float m = x[off];
        if (n >= F.length()) {
            var acc = FloatVector.fromArray(F, x, off);
            for (int bound = F.loopBound(n); i < bound; i += F.length()) {
                acc = acc.max(FloatVector.fromArray(F, x, off + i));
            }
            m = acc.reduceLanes(VectorOperators.MAX);
        }
        for (; i < n; i++) {
            m = Math.max(m, x[off + i]);
        }
        return m;
    }

    // ---------------------------------------------------------------- weights in mapped segments

    @Override
    public float dot(MemorySegment a, long aByteOff, float[] b, int bOff, int n) {
        int L = F.length();
        var acc0 = FloatVector.zero(F);
        var acc1 = FloatVector.zero(F);
        int i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            acc0 = FloatVector.fromMemorySegment(F, a, aByteOff + 4L * i, LE)
                    .fma(FloatVector.fromArray(F, b, bOff + i), acc0);
            acc1 = FloatVector.fromMemorySegment(F, a, aByteOff + 4L * (i + L), LE)
                    .fma(FloatVector.fromArray(F, b, bOff + i + L), acc1);
        }
        for (int bound = F.loopBound(n); i < bound; i += L) {
            acc0 = FloatVector.fromMemorySegment(F, a, aByteOff + 4L * i, LE)
                    .fma(FloatVector.fromArray(F, b, bOff + i), acc0);
        }
        float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += a.get(ScalarOps.F32_LE, aByteOff + 4L * i) * b[bOff + i];
        }
        return s;
    }

    @Override
    public float dotF16(MemorySegment a, long aByteOff, float[] b, int bOff, int n) {
        return S.dotF16(a, aByteOff, b, bOff, n);
    }

    @Override
    public float dotBf16(MemorySegment a, long aByteOff, float[] b, int bOff, int n) {
        return S.dotBf16(a, aByteOff, b, bOff, n);
    }

    @Override
    public void axpy(float alpha, MemorySegment x, long xByteOff, float[] y, int yOff, int n) {
        var va = FloatVector.broadcast(F, alpha);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            FloatVector.fromMemorySegment(F, x, xByteOff + 4L * i, LE)
                    .fma(va, FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] += alpha * x.get(ScalarOps.F32_LE, xByteOff + 4L * i);
        }
    }

    @Override
    public void axpyF16(float alpha, MemorySegment x, long xByteOff, float[] y, int yOff, int n) {
        S.axpyF16(alpha, x, xByteOff, y, yOff, n);
    }

    @Override
    public void axpyBf16(float alpha, MemorySegment x, long xByteOff, float[] y, int yOff, int n) {
        S.axpyBf16(alpha, x, xByteOff, y, yOff, n);
    }

    // ---------------------------------------------------------------- conversions

    @Override
    public void loadF32(MemorySegment src, long srcByteOff, float[] dst, int dstOff, int n) {
        MemorySegment.copy(src, ScalarOps.F32_LE, srcByteOff, dst, dstOff, n);
    }

    @Override
    public void f16ToF32(short[] src, int srcOff, float[] dst, int dstOff, int n) {
        S.f16ToF32(src, srcOff, dst, dstOff, n);
    }

    @Override
    public void f16ToF32(MemorySegment src, long srcByteOff, float[] dst, int dstOff, int n) {
        S.f16ToF32(src, srcByteOff, dst, dstOff, n);
    }

    @Override
    public void f32ToF16(float[] src, int srcOff, short[] dst, int dstOff, int n) {
        S.f32ToF16(src, srcOff, dst, dstOff, n);
    }

    @Override
    public void f32ToF16(float[] src, int srcOff, MemorySegment dst, long dstByteOff, int n) {
        S.f32ToF16(src, srcOff, dst, dstByteOff, n);
    }

    @Override
    public void bf16ToF32(short[] src, int srcOff, float[] dst, int dstOff, int n) {
        S.bf16ToF32(src, srcOff, dst, dstOff, n);
    }

    @Override
    public void bf16ToF32(MemorySegment src, long srcByteOff, float[] dst, int dstOff, int n) {
        S.bf16ToF32(src, srcByteOff, dst, dstOff, n);
    }

    @Override
    public void f32ToBf16(float[] src, int srcOff, short[] dst, int dstOff, int n) {
        S.f32ToBf16(src, srcOff, dst, dstOff, n);
    }

    @Override
    public void f32ToBf16(float[] src, int srcOff, MemorySegment dst, long dstByteOff, int n) {
        S.f32ToBf16(src, srcOff, dst, dstByteOff, n);
    }

    // ---------------------------------------------------------------- layers

    @Override
    public void rmsNormForward(float[] out, float[] rstd, float[] x, float[] weight, int T, int C, float eps) {
        S.rmsNormForward(out, rstd, x, weight, T, C, eps);
    }

    @Override
    public void rmsNormBackward(float[] dx, float[] dweight, float[] dout, float[] x, float[] weight, float[] rstd,
                                int T, int C) {
        S.rmsNormBackward(dx, dweight, dout, x, weight, rstd, T, C);
    }

    @Override
    public void softmaxForward(float[] y, int yOff, float[] x, int xOff, int n, int len) {
        S.softmaxForward(y, yOff, x, xOff, n, len);
    }

    @Override
    public void softmaxBackward(float[] dx, int dxOff, float[] dy, int dyOff, float[] y, int yOff, int n, int len) {
        S.softmaxBackward(dx, dxOff, dy, dyOff, y, yOff, n, len);
    }

    @Override
    public void siluForward(float[] out, float[] x, int n) {
        S.siluForward(out, x, n);
    }

    @Override
    public void siluBackward(float[] dx, float[] dout, float[] x, int n) {
        S.siluBackward(dx, dout, x, n);
    }

    @Override
    public void swigluForward(float[] out, float[] gate, float[] up, int n) {
        S.swigluForward(out, gate, up, n);
    }

    @Override
    public void swigluBackward(float[] dgate, float[] dup, float[] dout, float[] gate, float[] up, int n) {
        S.swigluBackward(dgate, dup, dout, gate, up, n);
    }

    @Override
    public void ropeForward(float[] x, int T, int H, int hs, int[] pos, RopeTables tab, RopeLayout layout) {
        S.ropeForward(x, T, H, hs, pos, tab, layout);
    }

    @Override
    public void ropeBackward(float[] d, int T, int H, int hs, int[] pos, RopeTables tab, RopeLayout layout) {
        S.ropeBackward(d, T, H, hs, pos, tab, layout);
    }

    @Override
    public double crossEntropyLoss(float[] logits, int[] targets, int T, int V) {
        return S.crossEntropyLoss(logits, targets, T, V);
    }

    @Override
    public double crossEntropyForwardBackward(float[] dlogits, float[] logits, int[] targets, int T, int V,
                                              float dscale) {
        return S.crossEntropyForwardBackward(dlogits, logits, targets, T, V, dscale);
    }
}
