package dev.jlora.simd;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
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
    /** Ints in the same shape as F, for bit manipulation of float lanes. */
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    /** F.length() shorts (half F's width), for fp16/bf16 data. */
    private static final VectorSpecies<Short> SH =
            VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final FloatVector TWO_POW_112 = FloatVector.broadcast(F, 0x1p112f);

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

    /**
     * Shrink: four rows of A at a time against one load of x[t] (four accumulators). Expand: B is transposed once
     * per call into scratch (Bᵀ [r × OC], so each rank's column is contiguous), then each L-wide block of y[t] is
     * loaded once and gets Σ_k (scale·h[k])·Bᵀ[k, block] with two alternating accumulators. The rank is usually
     * below the vector length, which a dot over r would leave to the scalar tail.
     */
    @Override
    public void segmentedLora(float[] y, float[] x, int[] rows, int rowOff, int m, int IC, int OC,
                              float[] a, float[] b, int r, float scale, float[] scratch) {
        VectorOps.checkSegmentedLoraScratch(scratch, r, OC);
        if (m == 0) {
            return;
        }
        final int bt = r;   // Bᵀ starts after h
        for (int o = 0; o < OC; o++) {
            for (int k = 0; k < r; k++) {
                scratch[bt + k * OC + o] = b[o * r + k];
            }
        }
        for (int j = 0; j < m; j++) {
            int t = rows[rowOff + j];
            shrink(scratch, a, x, t * IC, IC, r, scale);
            expand(y, t * OC, scratch, bt, OC, r);
        }
    }

    /** h[k] = scale·(A[k]·x[xOff..]) for k &lt; r, into h[0..r). */
    private void shrink(float[] h, float[] a, float[] x, int xOff, int IC, int r, float scale) {
        int L = F.length(), bound = F.loopBound(IC);
        int k = 0;
        for (; k + 4 <= r; k += 4) {
            int a0 = k * IC, a1 = a0 + IC, a2 = a1 + IC, a3 = a2 + IC;
            var acc0 = FloatVector.zero(F);
            var acc1 = FloatVector.zero(F);
            var acc2 = FloatVector.zero(F);
            var acc3 = FloatVector.zero(F);
            int i = 0;
            for (; i < bound; i += L) {
                var xv = FloatVector.fromArray(F, x, xOff + i);
                acc0 = FloatVector.fromArray(F, a, a0 + i).fma(xv, acc0);
                acc1 = FloatVector.fromArray(F, a, a1 + i).fma(xv, acc1);
                acc2 = FloatVector.fromArray(F, a, a2 + i).fma(xv, acc2);
                acc3 = FloatVector.fromArray(F, a, a3 + i).fma(xv, acc3);
            }
            float s0 = acc0.reduceLanes(VectorOperators.ADD), s1 = acc1.reduceLanes(VectorOperators.ADD);
            float s2 = acc2.reduceLanes(VectorOperators.ADD), s3 = acc3.reduceLanes(VectorOperators.ADD);
            for (; i < IC; i++) {
                float xi = x[xOff + i];
                s0 += a[a0 + i] * xi;
                s1 += a[a1 + i] * xi;
                s2 += a[a2 + i] * xi;
                s3 += a[a3 + i] * xi;
            }
            h[k] = scale * s0;
            h[k + 1] = scale * s1;
            h[k + 2] = scale * s2;
            h[k + 3] = scale * s3;
        }
        for (; k < r; k++) {
            h[k] = scale * dot(a, k * IC, x, xOff, IC);
        }
    }

    /** y[yOff+o] += Σ_k h[k]·bT[btOff + k·OC + o] for o &lt; OC. */
    private static void expand(float[] y, int yOff, float[] hAndBt, int btOff, int OC, int r) {
        int L = F.length();
        int o = 0;
        for (int bound = F.loopBound(OC); o < bound; o += L) {
            var acc0 = FloatVector.fromArray(F, y, yOff + o);
            var acc1 = FloatVector.zero(F);
            int k = 0;
            for (; k + 2 <= r; k += 2) {
                var col0 = FloatVector.fromArray(F, hAndBt, btOff + k * OC + o);
                var col1 = FloatVector.fromArray(F, hAndBt, btOff + (k + 1) * OC + o);
                acc0 = col0.fma(FloatVector.broadcast(F, hAndBt[k]), acc0);
                acc1 = col1.fma(FloatVector.broadcast(F, hAndBt[k + 1]), acc1);
            }
            if (k < r) {
                var col = FloatVector.fromArray(F, hAndBt, btOff + k * OC + o);
                acc0 = col.fma(FloatVector.broadcast(F, hAndBt[k]), acc0);
            }
            acc0.add(acc1).intoArray(y, yOff + o);
        }
        for (; o < OC; o++) {
            float s = 0;
            for (int k = 0; k < r; k++) {
                s += hAndBt[k] * hAndBt[btOff + k * OC + o];
            }
            y[yOff + o] += s;
        }
    }

    /**
     * One vector of y at a time, its k terms split over four accumulators (i mod 4) so that the fused multiply-adds
     * do not wait on each other; x[i] is broadcast. The j tail runs as {@link ScalarOps#gemvT}.
     */
    @Override
    public void gemvT(float alpha, float[] x, int xOff, float[] a, int aOff, int stride, int k, int m, float[] y, int yOff) {
        int L = F.length(), j = 0;
        for (int bound = F.loopBound(m); j < bound; j += L) {
            var acc0 = FloatVector.zero(F);
            var acc1 = FloatVector.zero(F);
            var acc2 = FloatVector.zero(F);
            var acc3 = FloatVector.zero(F);
            int i = 0, row = aOff + j;
            for (; i + 4 <= k; i += 4, row += 4 * stride) {
                acc0 = FloatVector.fromArray(F, a, row).fma(FloatVector.broadcast(F, x[xOff + i]), acc0);
                acc1 = FloatVector.fromArray(F, a, row + stride).fma(FloatVector.broadcast(F, x[xOff + i + 1]), acc1);
                acc2 = FloatVector.fromArray(F, a, row + 2 * stride).fma(FloatVector.broadcast(F, x[xOff + i + 2]), acc2);
                acc3 = FloatVector.fromArray(F, a, row + 3 * stride).fma(FloatVector.broadcast(F, x[xOff + i + 3]), acc3);
            }
            for (; i < k; i++, row += stride) {
                acc0 = FloatVector.fromArray(F, a, row).fma(FloatVector.broadcast(F, x[xOff + i]), acc0);
            }
            var sum = acc0.add(acc1).add(acc2.add(acc3));
            sum.fma(FloatVector.broadcast(F, alpha), FloatVector.fromArray(F, y, yOff + j)).intoArray(y, yOff + j);
        }
        if (j < m) {
            ScalarOps.INSTANCE.gemvT(alpha, x, xOff, a, aOff + j, stride, k, m - j, y, yOff + j);
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
        var acc0 = FloatVector.zero(F);
        var acc1 = FloatVector.zero(F);
        int L = F.length(), i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            acc0 = f16Vector(a, aByteOff + 2L * i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
            acc1 = f16Vector(a, aByteOff + 2L * (i + L)).fma(FloatVector.fromArray(F, b, bOff + i + L), acc1);
        }
        for (int bound = F.loopBound(n); i < bound; i += L) {
            acc0 = f16Vector(a, aByteOff + 2L * i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
        }
        float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += Float.float16ToFloat(a.get(ScalarOps.S16_LE, aByteOff + 2L * i)) * b[bOff + i];
        }
        return s;
    }

    @Override
    public float dotBf16(MemorySegment a, long aByteOff, float[] b, int bOff, int n) {
        var acc0 = FloatVector.zero(F);
        var acc1 = FloatVector.zero(F);
        int L = F.length(), i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            acc0 = bf16Vector(a, aByteOff + 2L * i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
            acc1 = bf16Vector(a, aByteOff + 2L * (i + L)).fma(FloatVector.fromArray(F, b, bOff + i + L), acc1);
        }
        for (int bound = F.loopBound(n); i < bound; i += L) {
            acc0 = bf16Vector(a, aByteOff + 2L * i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
        }
        float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += ScalarOps.bf16ToFloat(a.get(ScalarOps.S16_LE, aByteOff + 2L * i)) * b[bOff + i];
        }
        return s;
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
        var va = FloatVector.broadcast(F, alpha);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            f16Vector(x, xByteOff + 2L * i).fma(va, FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] += alpha * Float.float16ToFloat(x.get(ScalarOps.S16_LE, xByteOff + 2L * i));
        }
    }

    @Override
    public void axpyBf16(float alpha, MemorySegment x, long xByteOff, float[] y, int yOff, int n) {
        var va = FloatVector.broadcast(F, alpha);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            bf16Vector(x, xByteOff + 2L * i).fma(va, FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] += alpha * ScalarOps.bf16ToFloat(x.get(ScalarOps.S16_LE, xByteOff + 2L * i));
        }
    }

    // ---------------------------------------------------------------- half-precision lanes

    /** F.length() fp16 values at {@code byteOff}, widened exactly. */
    private static FloatVector f16Vector(MemorySegment seg, long byteOff) {
        return f16ToFloats(ShortVector.fromMemorySegment(SH, seg, byteOff, LE));
    }

    /** F.length() bf16 values at {@code byteOff}, widened exactly. */
    private static FloatVector bf16Vector(MemorySegment seg, long byteOff) {
        return bf16ToFloats(ShortVector.fromMemorySegment(SH, seg, byteOff, LE));
    }

    private static IntVector zeroExtend(ShortVector h) {
        return (IntVector) h.convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
    }

    private static FloatVector bf16ToFloats(ShortVector h) {
        return zeroExtend(h).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /**
     * Exact binary16 → binary32. Exponent and mantissa shifted into place read as a float that is 2^112 too small
     * (bias 127 against 15); multiplying by 2^112 is exact and also normalises fp16 subnormals. Exponent 31
     * (inf/NaN) instead gets the float exponent 255 with its mantissa kept and NaNs made quiet, as x86's
     * {@code vcvtph2ps} (which backs {@link Float#float16ToFloat} in C2) does.
     */
    private static FloatVector f16ToFloats(ShortVector h) {
        IntVector u = zeroExtend(h);
        IntVector sign = u.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        IntVector em = u.and(0x7fff);
        IntVector shifted = em.lanewise(VectorOperators.LSHL, 13);
        FloatVector finite = shifted.reinterpretAsFloats().mul(TWO_POW_112);
        IntVector special = shifted.or(0x7f800000)
                .blend(shifted.or(0x7fc00000), em.compare(VectorOperators.GT, 0x7c00));
        IntVector bits = finite.reinterpretAsInts().blend(special, em.compare(VectorOperators.GE, 0x7c00));
        return bits.or(sign).reinterpretAsFloats();
    }

    /** Round to nearest even on the dropped 16 bits; NaN stays quiet (as {@link ScalarOps#floatToBf16}). */
    private static ShortVector floatsToBf16(FloatVector f) {
        IntVector u = f.reinterpretAsInts();
        IntVector hi = u.lanewise(VectorOperators.LSHR, 16);
        IntVector rounded = u.add(0x7fff).add(hi.and(1)).lanewise(VectorOperators.LSHR, 16);
        IntVector nan = hi.or(0x40);
        IntVector r = rounded.blend(nan, u.and(0x7fffffff).compare(VectorOperators.GT, 0x7f800000));
        return (ShortVector) r.convertShape(VectorOperators.I2S, SH, 0);
    }

    // ---------------------------------------------------------------- conversions

    @Override
    public void loadF32(MemorySegment src, long srcByteOff, float[] dst, int dstOff, int n) {
        MemorySegment.copy(src, ScalarOps.F32_LE, srcByteOff, dst, dstOff, n);
    }

    // A plain loop, as the narrowing below: C2 vectorizes Float.float16ToFloat over arrays into vcvtph2ps (F16C), 3×
    // faster than widening in lanes with integer operations (1024 values: 42 vs 132 ns, one thread).
    @Override
    public void f16ToF32(short[] src, int srcOff, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = Float.float16ToFloat(src[srcOff + i]);
        }
    }

    @Override
    public void f16ToF32(MemorySegment src, long srcByteOff, float[] dst, int dstOff, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            f16Vector(src, srcByteOff + 2L * i).intoArray(dst, dstOff + i);
        }
        for (; i < n; i++) {
            dst[dstOff + i] = Float.float16ToFloat(src.get(ScalarOps.S16_LE, srcByteOff + 2L * i));
        }
    }

    // Narrowing to fp16 stays a plain loop: Float.floatToFloat16 is a C2 intrinsic (vcvtps2ph with F16C/AVX-512)
    // that the auto-vectorizer already widens, and a hand-written rounding in lanes would only add risk.
    @Override
    public void f32ToF16(float[] src, int srcOff, short[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = Float.floatToFloat16(src[srcOff + i]);
        }
    }

    @Override
    public void f32ToF16(float[] src, int srcOff, MemorySegment dst, long dstByteOff, int n) {
        for (int i = 0; i < n; i++) {
            dst.set(ScalarOps.S16_LE, dstByteOff + 2L * i, Float.floatToFloat16(src[srcOff + i]));
        }
    }

    @Override
    public void bf16ToF32(short[] src, int srcOff, float[] dst, int dstOff, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            bf16ToFloats(ShortVector.fromArray(SH, src, srcOff + i)).intoArray(dst, dstOff + i);
        }
        for (; i < n; i++) {
            dst[dstOff + i] = ScalarOps.bf16ToFloat(src[srcOff + i]);
        }
    }

    @Override
    public void bf16ToF32(MemorySegment src, long srcByteOff, float[] dst, int dstOff, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            bf16Vector(src, srcByteOff + 2L * i).intoArray(dst, dstOff + i);
        }
        for (; i < n; i++) {
            dst[dstOff + i] = ScalarOps.bf16ToFloat(src.get(ScalarOps.S16_LE, srcByteOff + 2L * i));
        }
    }

    @Override
    public void f32ToBf16(float[] src, int srcOff, short[] dst, int dstOff, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            floatsToBf16(FloatVector.fromArray(F, src, srcOff + i)).intoArray(dst, dstOff + i);
        }
        for (; i < n; i++) {
            dst[dstOff + i] = ScalarOps.floatToBf16(src[srcOff + i]);
        }
    }

    @Override
    public void f32ToBf16(float[] src, int srcOff, MemorySegment dst, long dstByteOff, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            floatsToBf16(FloatVector.fromArray(F, src, srcOff + i)).intoMemorySegment(dst, dstByteOff + 2L * i, LE);
        }
        for (; i < n; i++) {
            dst.set(ScalarOps.S16_LE, dstByteOff + 2L * i, ScalarOps.floatToBf16(src[srcOff + i]));
        }
    }

    // ---------------------------------------------------------------- RMSNorm

    @Override
    public void rmsNormForward(float[] out, float[] rstd, float[] x, float[] weight, int T, int C, float eps) {
        for (int t = 0; t < T; t++) {
            int row = t * C;
            float ss = dot(x, row, x, row, C);
            float r = (float) (1.0 / Math.sqrt(ss / C + eps));
            rstd[t] = r;
            int c = 0;
            for (int bound = F.loopBound(C); c < bound; c += F.length()) {
                FloatVector.fromArray(F, x, row + c).mul(r).mul(FloatVector.fromArray(F, weight, c))
                        .intoArray(out, row + c);
            }
            for (; c < C; c++) {
                out[row + c] = x[row + c] * r * weight[c];
            }
        }
    }

    @Override
    public void rmsNormBackward(float[] dx, float[] dweight, float[] dout, float[] x, float[] weight, float[] rstd,
                                int T, int C) {
        for (int t = 0; t < T; t++) {
            int row = t * C;
            float r = rstd[t];
            var acc0 = FloatVector.zero(F);
            var acc1 = FloatVector.zero(F);
            int L = F.length(), c = 0;
            for (int bound = C - 2 * L; c <= bound; c += 2 * L) {
                acc0 = FloatVector.fromArray(F, dout, row + c).mul(FloatVector.fromArray(F, weight, c))
                        .fma(FloatVector.fromArray(F, x, row + c), acc0);
                acc1 = FloatVector.fromArray(F, dout, row + c + L).mul(FloatVector.fromArray(F, weight, c + L))
                        .fma(FloatVector.fromArray(F, x, row + c + L), acc1);
            }
            for (int bound = F.loopBound(C); c < bound; c += L) {
                acc0 = FloatVector.fromArray(F, dout, row + c).mul(FloatVector.fromArray(F, weight, c))
                        .fma(FloatVector.fromArray(F, x, row + c), acc0);
            }
            float gx = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
            for (; c < C; c++) {
                gx += dout[row + c] * weight[c] * x[row + c];
            }
            float k = r * r * r * gx / C;
            c = 0;
            for (int bound = F.loopBound(C); c < bound; c += L) {
                var g = FloatVector.fromArray(F, dout, row + c);
                var xv = FloatVector.fromArray(F, x, row + c);
                g.mul(xv).fma(FloatVector.broadcast(F, r), FloatVector.fromArray(F, dweight, c)).intoArray(dweight, c);
                g.mul(r).mul(FloatVector.fromArray(F, weight, c)).sub(xv.mul(k)).intoArray(dx, row + c);
            }
            for (; c < C; c++) {
                float g = dout[row + c];
                dweight[c] += g * x[row + c] * r;
                dx[row + c] = r * g * weight[c] - k * x[row + c];
            }
        }
    }

    // ---------------------------------------------------------------- softmax

    @Override
    public void softmaxForward(float[] y, int yOff, float[] x, int xOff, int n, int len) {
        ScalarOps.checkMask(n, len);
        float m = max(x, xOff, len);
        var acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(len); i < bound; i += F.length()) {
            var e = FloatVector.fromArray(F, x, xOff + i).sub(m).lanewise(VectorOperators.EXP);
            e.intoArray(y, yOff + i);
            acc = acc.add(e);
        }
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < len; i++) {
            float e = (float) Math.exp(x[xOff + i] - m);
            y[yOff + i] = e;
            s += e;
        }
        scale(1f / s, y, yOff, len);
        java.util.Arrays.fill(y, yOff + len, yOff + n, 0f);
    }

    @Override
    public void softmaxBackward(float[] dx, int dxOff, float[] dy, int dyOff, float[] y, int yOff, int n, int len) {
        ScalarOps.checkMask(n, len);
        float yd = dot(y, yOff, dy, dyOff, len);
        int i = 0;
        for (int bound = F.loopBound(len); i < bound; i += F.length()) {
            var yv = FloatVector.fromArray(F, y, yOff + i);
            yv.mul(FloatVector.fromArray(F, dy, dyOff + i).sub(yd)).intoArray(dx, dxOff + i);
        }
        for (; i < len; i++) {
            dx[dxOff + i] = y[yOff + i] * (dy[dyOff + i] - yd);
        }
        java.util.Arrays.fill(dx, dxOff + len, dxOff + n, 0f);
    }

    // ---------------------------------------------------------------- SiLU, SwiGLU

    /** σ(x) = 1/(1 + e^−x); e^−x overflows to +inf for x below about −88, giving σ = 0 as it should. */
    private static FloatVector sigmoid(FloatVector x) {
        return FloatVector.broadcast(F, 1f).div(x.neg().lanewise(VectorOperators.EXP).add(1f));
    }

    @Override
    public void siluForward(float[] out, float[] x, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            var xv = FloatVector.fromArray(F, x, i);
            xv.mul(sigmoid(xv)).intoArray(out, i);
        }
        for (; i < n; i++) {
            out[i] = x[i] * ScalarOps.sigmoid(x[i]);
        }
    }

    @Override
    public void siluBackward(float[] dx, float[] dout, float[] x, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            var xv = FloatVector.fromArray(F, x, i);
            var s = sigmoid(xv);
            var ds = s.mul(xv.mul(s.neg().add(1f)).add(1f));
            FloatVector.fromArray(F, dout, i).mul(ds).intoArray(dx, i);
        }
        for (; i < n; i++) {
            float s = ScalarOps.sigmoid(x[i]);
            dx[i] = dout[i] * s * (1 + x[i] * (1 - s));
        }
    }

    @Override
    public void swigluForward(float[] out, float[] gate, float[] up, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            var g = FloatVector.fromArray(F, gate, i);
            g.mul(sigmoid(g)).mul(FloatVector.fromArray(F, up, i)).intoArray(out, i);
        }
        for (; i < n; i++) {
            out[i] = gate[i] * ScalarOps.sigmoid(gate[i]) * up[i];
        }
    }

    @Override
    public void swigluBackward(float[] dgate, float[] dup, float[] dout, float[] gate, float[] up, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            var g = FloatVector.fromArray(F, gate, i);
            var d = FloatVector.fromArray(F, dout, i);
            var u = FloatVector.fromArray(F, up, i);
            var s = sigmoid(g);
            var dg = d.mul(u).mul(s).mul(g.mul(s.neg().add(1f)).add(1f));
            d.mul(g).mul(s).intoArray(dup, i);
            dg.intoArray(dgate, i);
        }
        for (; i < n; i++) {
            float g = gate[i], s = ScalarOps.sigmoid(g), d = dout[i];
            float dg = d * up[i] * s * (1 + g * (1 - s));
            dup[i] = d * g * s;
            dgate[i] = dg;
        }
    }

    // ---------------------------------------------------------------- rotary embedding

    @Override
    public void ropeForward(float[] x, int T, int H, int hs, int[] pos, RopeTables tab, RopeLayout layout) {
        rope(x, T, H, hs, pos, tab, layout, 1f);
    }

    @Override
    public void ropeBackward(float[] d, int T, int H, int hs, int[] pos, RopeTables tab, RopeLayout layout) {
        rope(d, T, H, hs, pos, tab, layout, -1f);
    }

    /** Lane i of an interleaved vector reads frequency i/2 of the tables; the partner of lane i is lane i^1. */
    private static final int[] PAIR_INDEX = pairIndex();
    private static final VectorShuffle<Float> SWAP_PAIRS = VectorShuffle.fromOp(F, i -> i ^ 1);
    /** −1 on the first element of each pair, +1 on the second: a' = a·c − b·s, b' = b·c + a·s. */
    private static final FloatVector PAIR_SIGN = FloatVector.fromArray(F, pairSign(), 0);

    private static int[] pairIndex() {
        int[] idx = new int[F.length()];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = i / 2;
        }
        return idx;
    }

    private static float[] pairSign() {
        float[] s = new float[F.length()];
        for (int i = 0; i < s.length; i++) {
            s[i] = (i & 1) == 0 ? -1f : 1f;
        }
        return s;
    }

    private static void rope(float[] x, int T, int H, int hs, int[] pos, RopeTables tab, RopeLayout layout,
                             float sign) {
        ScalarOps.checkRope(T, hs, pos, tab);
        int half = hs / 2, L = F.length();
        float[] cos = tab.cos(), sin = tab.sin();
        for (int t = 0; t < T; t++) {
            int tabRow = pos[t] * half;
            for (int h = 0; h < H; h++) {
                int base = (t * H + h) * hs;
                int i = 0;
                if (layout == RopeLayout.HALF_SPLIT) {
                    for (int bound = F.loopBound(half); i < bound; i += L) {
                        var c = FloatVector.fromArray(F, cos, tabRow + i);
                        var s = FloatVector.fromArray(F, sin, tabRow + i).mul(sign);
                        var a = FloatVector.fromArray(F, x, base + i);
                        var b = FloatVector.fromArray(F, x, base + half + i);
                        a.mul(c).sub(b.mul(s)).intoArray(x, base + i);
                        a.mul(s).add(b.mul(c)).intoArray(x, base + half + i);
                    }
                    for (; i < half; i++) {
                        float c = cos[tabRow + i], s = sign * sin[tabRow + i];
                        float a = x[base + i], b = x[base + half + i];
                        x[base + i] = a * c - b * s;
                        x[base + half + i] = a * s + b * c;
                    }
                } else {
                    // One vector holds L/2 adjacent pairs: x' = x·cos + swap(x)·(±sin).
                    int e = 0;
                    for (int bound = F.loopBound(hs); e < bound; e += L) {
                        var c = FloatVector.fromArray(F, cos, tabRow + e / 2, PAIR_INDEX, 0);
                        var s = FloatVector.fromArray(F, sin, tabRow + e / 2, PAIR_INDEX, 0).mul(PAIR_SIGN).mul(sign);
                        var v = FloatVector.fromArray(F, x, base + e);
                        v.mul(c).add(v.rearrange(SWAP_PAIRS).mul(s)).intoArray(x, base + e);
                    }
                    for (i = e / 2; i < half; i++) {
                        float c = cos[tabRow + i], s = sign * sin[tabRow + i];
                        float a = x[base + 2 * i], b = x[base + 2 * i + 1];
                        x[base + 2 * i] = a * c - b * s;
                        x[base + 2 * i + 1] = a * s + b * c;
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- cross-entropy

    /** log Σ_i exp(x[off+i] − m) for i &lt; n; m is the row maximum, so no term overflows. */
    private float logSumExp(float[] x, int off, int n, float m) {
        var acc0 = FloatVector.zero(F);
        var acc1 = FloatVector.zero(F);
        int L = F.length(), i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            acc0 = acc0.add(FloatVector.fromArray(F, x, off + i).sub(m).lanewise(VectorOperators.EXP));
            acc1 = acc1.add(FloatVector.fromArray(F, x, off + i + L).sub(m).lanewise(VectorOperators.EXP));
        }
        for (int bound = F.loopBound(n); i < bound; i += L) {
            acc0 = acc0.add(FloatVector.fromArray(F, x, off + i).sub(m).lanewise(VectorOperators.EXP));
        }
        float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += (float) Math.exp(x[off + i] - m);
        }
        return (float) Math.log(s);
    }

    @Override
    public double crossEntropyLoss(float[] logits, int[] targets, int T, int V) {
        double loss = 0;
        for (int t = 0; t < T; t++) {
            int target = ScalarOps.checkTarget(targets, t, V);
            if (target < 0) {
                continue;
            }
            int row = t * V;
            float m = max(logits, row, V);
            loss += m + logSumExp(logits, row, V, m) - logits[row + target];
        }
        return loss;
    }

    @Override
    public double crossEntropyForwardBackward(float[] dlogits, float[] logits, int[] targets, int T, int V,
                                              float dscale) {
        double loss = 0;
        for (int t = 0; t < T; t++) {
            int target = ScalarOps.checkTarget(targets, t, V);
            int row = t * V;
            if (target < 0) {
                java.util.Arrays.fill(dlogits, row, row + V, 0f);
                continue;
            }
            float m = max(logits, row, V);
            float logS = logSumExp(logits, row, V, m);
            float xt = logits[row + target];   // read before dlogits (maybe the same array) overwrites it
            loss += m + logS - xt;
            float shift = m + logS;
            int v = 0;
            for (int bound = F.loopBound(V); v < bound; v += F.length()) {
                FloatVector.fromArray(F, logits, row + v).sub(shift).lanewise(VectorOperators.EXP).mul(dscale)
                        .intoArray(dlogits, row + v);
            }
            for (; v < V; v++) {
                dlogits[row + v] = dscale * (float) Math.exp(logits[row + v] - shift);
            }
            dlogits[row + target] = dscale * ((float) Math.exp(xt - shift) - 1);
        }
        return loss;
    }
}
