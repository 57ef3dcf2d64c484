package dev.jlora.quant;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API decoders and fused dots for the hot formats (Q4_0, Q8_0, Q4_K). The only class of {@code quant}
 * that imports {@code jdk.incubator.vector}; loaded only through {@link VectorDecode}.
 *
 * <p>Bytes are loaded L at a time (L = float lanes, 8 or 16) and widened with B2F. Decoders do the same float
 * multiplications (and subtractions) as the scalar {@code dequantizeRowRef}, so their output is bit-identical;
 * the fused dots reorder sums and are held to a tolerance instead.
 */
final class PanamaQuant {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final VectorSpecies<Byte> B = L == 8 || L == 16
            ? VectorSpecies.of(byte.class, VectorShape.forBitSize(F.vectorBitSize() / 4)) : null;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private PanamaQuant() {}

    static boolean supported() {
        return B != null;
    }

    private static FloatVector widen(ByteVector b) {
        return (FloatVector) b.convertShape(VectorOperators.B2F, F, 0);
    }

    private static FloatVector lowNibbles(ByteVector b) {
        return widen(b.and((byte) 0x0F));
    }

    private static FloatVector highNibbles(ByteVector b) {
        return widen(b.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F));
    }

    // ---------------------------------------------------------------- Q4_0

    static void dequantizeQ4_0(MemorySegment src, long off, float[] dst, int dstOff, int nBlocks) {
        var eight = FloatVector.broadcast(F, 8f);
        for (int b = 0; b < nBlocks; b++, off += Q4_0.BYTES, dstOff += 32) {
            float d = Le.f16(src, off);
            for (int j = 0; j < 16; j += L) {
                var q = ByteVector.fromMemorySegment(B, src, off + 2 + j, LE);
                // (q − 8) is exact in float, so subtracting after widening equals ggml's integer subtraction.
                lowNibbles(q).sub(eight).mul(d).intoArray(dst, dstOff + j);
                highNibbles(q).sub(eight).mul(d).intoArray(dst, dstOff + 16 + j);
            }
        }
    }

    static float dotQ4_0(MemorySegment src, long off, float[] x, int xOff, int nBlocks) {
        var eight = FloatVector.broadcast(F, 8f);
        var acc = FloatVector.zero(F);
        for (int b = 0; b < nBlocks; b++, off += Q4_0.BYTES, xOff += 32) {
            var blk = FloatVector.zero(F);
            for (int j = 0; j < 16; j += L) {
                var q = ByteVector.fromMemorySegment(B, src, off + 2 + j, LE);
                blk = lowNibbles(q).sub(eight).fma(FloatVector.fromArray(F, x, xOff + j), blk);
                blk = highNibbles(q).sub(eight).fma(FloatVector.fromArray(F, x, xOff + 16 + j), blk);
            }
            acc = blk.fma(FloatVector.broadcast(F, Le.f16(src, off)), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    // ---------------------------------------------------------------- Q8_0

    static void dequantizeQ8_0(MemorySegment src, long off, float[] dst, int dstOff, int nBlocks) {
        for (int b = 0; b < nBlocks; b++, off += Q8_0.BYTES, dstOff += 32) {
            float d = Le.f16(src, off);
            for (int j = 0; j < 32; j += L) {
                widen(ByteVector.fromMemorySegment(B, src, off + 2 + j, LE)).mul(d).intoArray(dst, dstOff + j);
            }
        }
    }

    static float dotQ8_0(MemorySegment src, long off, float[] x, int xOff, int nBlocks) {
        var acc = FloatVector.zero(F);
        for (int b = 0; b < nBlocks; b++, off += Q8_0.BYTES, xOff += 32) {
            var blk = FloatVector.zero(F);
            for (int j = 0; j < 32; j += L) {
                blk = widen(ByteVector.fromMemorySegment(B, src, off + 2 + j, LE))
                        .fma(FloatVector.fromArray(F, x, xOff + j), blk);
            }
            acc = blk.fma(FloatVector.broadcast(F, Le.f16(src, off)), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    // ---------------------------------------------------------------- Q4_K

    static void dequantizeQ4_K(MemorySegment src, long off, float[] dst, int dstOff, int nBlocks) {
        for (int b = 0; b < nBlocks; b++, off += Q4_K.BYTES) {
            float d = Le.f16(src, off), min = Le.f16(src, off + 2);
            long q = off + 16;
            for (int is = 0; is < 8; is += 2, q += 32, dstOff += 64) {
                float d1 = d * KQuants.scaleK4(src, off + 4, is), m1 = min * KQuants.minK4(src, off + 4, is);
                float d2 = d * KQuants.scaleK4(src, off + 4, is + 1), m2 = min * KQuants.minK4(src, off + 4, is + 1);
                for (int l = 0; l < 32; l += L) {
                    var v = ByteVector.fromMemorySegment(B, src, q + l, LE);
                    lowNibbles(v).mul(d1).sub(m1).intoArray(dst, dstOff + l);
                    highNibbles(v).mul(d2).sub(m2).intoArray(dst, dstOff + 32 + l);
                }
            }
        }
    }

    static float dotQ4_K(MemorySegment src, long off, float[] x, int xOff, int nBlocks) {
        var acc = FloatVector.zero(F);
        for (int b = 0; b < nBlocks; b++, off += Q4_K.BYTES) {
            float d = Le.f16(src, off), min = Le.f16(src, off + 2);
            long q = off + 16;
            for (int is = 0; is < 8; is += 2, q += 32, xOff += 64) {
                var s1 = FloatVector.zero(F);
                var s2 = FloatVector.zero(F);
                var x1 = FloatVector.zero(F);
                var x2 = FloatVector.zero(F);
                for (int l = 0; l < 32; l += L) {
                    var v = ByteVector.fromMemorySegment(B, src, q + l, LE);
                    var xa = FloatVector.fromArray(F, x, xOff + l);
                    var xb = FloatVector.fromArray(F, x, xOff + 32 + l);
                    s1 = lowNibbles(v).fma(xa, s1);
                    s2 = highNibbles(v).fma(xb, s2);
                    x1 = x1.add(xa);
                    x2 = x2.add(xb);
                }
                // Σ (d·sc·q − dmin·m)·x = d·sc·Σ q·x − dmin·m·Σ x
                acc = s1.fma(FloatVector.broadcast(F, d * KQuants.scaleK4(src, off + 4, is)), acc);
                acc = x1.fma(FloatVector.broadcast(F, -min * KQuants.minK4(src, off + 4, is)), acc);
                acc = s2.fma(FloatVector.broadcast(F, d * KQuants.scaleK4(src, off + 4, is + 1)), acc);
                acc = x2.fma(FloatVector.broadcast(F, -min * KQuants.minK4(src, off + 4, is + 1)), acc);
            }
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }
}
