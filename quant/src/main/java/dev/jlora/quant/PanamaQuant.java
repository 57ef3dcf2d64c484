package dev.jlora.quant;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API decoders and fused dots for the common formats (Q4_0, Q8_0, Q4_K, Q5_K decode, Q6_K, NF4), and the
 * register-blocked fp32 tiles of the T &gt; 1 paths. The only class of {@code quant}
 * that imports {@code jdk.incubator.vector}; loaded only through {@link VectorDecode}.
 *
 * <p>Bytes are loaded L at a time (L = float lanes, 8 or 16) and widened with B2F. Decoders do the same float
 * multiplications (and subtractions) as the scalar {@code dequantizeRowRef}, so their output is bit-identical;
 * the fused dots reorder sums and are held to a tolerance instead. The quant tests pass at all three widths
 * ({@code -XX:MaxVectorSize=16} makes L = 4 and the scalar decoders take over; 32 gives L = 8; 64 gives L = 16).
 */
final class PanamaQuant {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();
    private static final VectorSpecies<Byte> B = L == 8 || L == 16
            ? VectorSpecies.of(byte.class, VectorShape.forBitSize(F.vectorBitSize() / 4)) : null;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final VectorSpecies<Integer> I = B == null ? null : VectorSpecies.of(int.class, F.vectorShape());
    /** Lookup tables of 16 floats (as int bits, {@link #lookup}): the NF4 levels, and q − 8 for Q4_0. */
    private static final IntVector NF4_LO = B == null ? null : tableBits(Nf4.CODE, 0);
    private static final IntVector NF4_HI = B == null ? null : tableBits(Nf4.CODE, L);
    private static final float[] Q4_0_LEVELS = {-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7};
    private static final IntVector Q4_0_LO = B == null ? null : tableBits(Q4_0_LEVELS, 0);
    private static final IntVector Q4_0_HI = B == null ? null : tableBits(Q4_0_LEVELS, L);
    /** 0, 1, …, L − 1 in int lanes. */
    private static final IntVector LANE_INDEX = B == null ? null : IntVector.zero(I).addIndex(1);

    private PanamaQuant() {}

    static boolean supported() {
        return B != null;
    }

    /** Float lanes per vector (8 or 16 when {@link #supported}). */
    static int lanes() {
        return L;
    }

    private static FloatVector widen(ByteVector b) {
        return (FloatVector) b.convertShape(VectorOperators.B2F, F, 0);
    }

    // The nibbles are split after widening to int lanes: x86 has no byte shift, so a ByteVector LSHR costs several
    // instructions, an int shift one (measured on one thread, [1024 × 4096]: Q4_0 dot 1.7× faster). C2 shares the one B2I of both calls.
    private static IntVector ints(ByteVector b) {
        return (IntVector) b.convertShape(VectorOperators.B2I, I, 0);
    }

    /** The bytes as unsigned int lanes (codes 0..255). */
    private static IntVector codes(ByteVector b) {
        return (IntVector) b.convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
    }

    /**
     * table[idx] for 4-bit indices, the 16 floats held as int bits in lo (entries 0..L−1) and hi (L..15, L = 8
     * only): one {@code vpermd} (or {@code vpermi2d}) per L values.
     */
    private static FloatVector lookup(IntVector idx, IntVector lo, IntVector hi) {
        return (L == 16 ? idx.selectFrom(lo) : idx.selectFrom(lo, hi)).reinterpretAsFloats();
    }

    /** The 16 floats of {@code table} as int bits, entries [from, from + L). */
    private static IntVector tableBits(float[] table, int from) {
        int[] bits = new int[L];
        for (int i = 0; i < L; i++) {
            bits[i] = Float.floatToRawIntBits(table[Math.min(15, from + i)]);
        }
        return IntVector.fromArray(I, bits, 0);
    }

    private static FloatVector lowNibbles(ByteVector b) {
        return (FloatVector) ints(b).and(0x0F).convert(VectorOperators.I2F, 0);
    }

    private static FloatVector highNibbles(ByteVector b) {
        return (FloatVector) ints(b).lanewise(VectorOperators.LSHR, 4).and(0x0F).convert(VectorOperators.I2F, 0);
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

    /**
     * Σ W·x over {@code nBlocks} Q4_0 blocks. The codes are widened with zero extension (the high nibble is then a
     * bare shift) and turned into q − 8 by a table lookup, one permute instead of a conversion and a subtraction
     * (one thread, [256 × 4096] in L2: 1.3× the old dot).
     */
    static float dotQ4_0(MemorySegment src, long off, float[] x, int xOff, int nBlocks) {
        // Two blocks per iteration into two accumulators: with one, each block's scale FMA waits on the previous
        // block's. The blocks are written out here, not in a helper returning a vector: when C2 does not inline
        // such a helper (it was compiled on its own first, "already compiled into a big method", as under
        // -XX:-TieredCompilation) every vector is boxed and the dot runs 6–10× slower. One block per iteration with
        // the accumulators swapped ran 1.3–1.4× slower.
        var acc0 = FloatVector.zero(F);
        var acc1 = FloatVector.zero(F);
        int b = 0;
        for (; b + 2 <= nBlocks; b += 2, off += 2 * Q4_0.BYTES, xOff += 64) {
            var blk0 = FloatVector.zero(F);
            var blk1 = FloatVector.zero(F);
            for (int j = 0; j < 16; j += L) {
                var q0 = codes(ByteVector.fromMemorySegment(B, src, off + 2 + j, LE));
                var q1 = codes(ByteVector.fromMemorySegment(B, src, off + Q4_0.BYTES + 2 + j, LE));
                blk0 = lookup(q0.and(0x0F), Q4_0_LO, Q4_0_HI).fma(FloatVector.fromArray(F, x, xOff + j), blk0);
                blk0 = lookup(q0.lanewise(VectorOperators.LSHR, 4), Q4_0_LO, Q4_0_HI).fma(FloatVector.fromArray(F, x, xOff + 16 + j), blk0);
                blk1 = lookup(q1.and(0x0F), Q4_0_LO, Q4_0_HI).fma(FloatVector.fromArray(F, x, xOff + 32 + j), blk1);
                blk1 = lookup(q1.lanewise(VectorOperators.LSHR, 4), Q4_0_LO, Q4_0_HI).fma(FloatVector.fromArray(F, x, xOff + 48 + j), blk1);
            }
            acc0 = blk0.fma(FloatVector.broadcast(F, Le.f16(src, off)), acc0);
            acc1 = blk1.fma(FloatVector.broadcast(F, Le.f16(src, off + Q4_0.BYTES)), acc1);
        }
        for (; b < nBlocks; b++, off += Q4_0.BYTES, xOff += 32) {   // an odd last block (288 columns: 9 blocks)
            var blk = FloatVector.zero(F);
            for (int j = 0; j < 16; j += L) {
                var q = codes(ByteVector.fromMemorySegment(B, src, off + 2 + j, LE));
                blk = lookup(q.and(0x0F), Q4_0_LO, Q4_0_HI).fma(FloatVector.fromArray(F, x, xOff + j), blk);
                blk = lookup(q.lanewise(VectorOperators.LSHR, 4), Q4_0_LO, Q4_0_HI).fma(FloatVector.fromArray(F, x, xOff + 16 + j), blk);
            }
            acc0 = blk.fma(FloatVector.broadcast(F, Le.f16(src, off)), acc0);
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    /**
     * Runs of four Q4_0 rows at once, as {@link #dot4Q8_0}. Only direct Vector API calls in the
     * loop (they are force-inlined): with helpers, four rows' worth of nodes passed C2's NodeCountInliningCutoff and
     * the fourth row's helper stayed a call that boxed its vectors. Only for L = 16 (the 16 levels in one table).
     */
    static void dot4Q4_0(MemorySegment src, long off, long stride, int count, float[] x, int nBlocks, float[] y, int yOff,
                         int yStride) {
        int rowBytes = Math.multiplyExact(Q4_0.BYTES, nBlocks);
        int bytes = Math.toIntExact((long) count * rowBytes);
        MemorySegment r0 = src.asSlice(off, bytes), r1 = src.asSlice(off + stride, bytes);
        MemorySegment r2 = src.asSlice(off + 2 * stride, bytes), r3 = src.asSlice(off + 3 * stride, bytes);
        for (int i = 0; i < count; i++) {
            int rowOff = i * rowBytes;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int b = 0; b < nBlocks; b++) {
                int o = rowOff + Q4_0.BYTES * b;
                int xOff = 32 * b;
                FloatVector b0 = FloatVector.zero(F), b1 = b0, b2 = b0, b3 = b0;
                for (int j = 0; j < 16; j += L) {
                    var xLo = FloatVector.fromArray(F, x, xOff + j);
                    var xHi = FloatVector.fromArray(F, x, xOff + 16 + j);
                    var q0 = (IntVector) ByteVector.fromMemorySegment(B, r0, o + 2 + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    var q1 = (IntVector) ByteVector.fromMemorySegment(B, r1, o + 2 + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    var q2 = (IntVector) ByteVector.fromMemorySegment(B, r2, o + 2 + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    var q3 = (IntVector) ByteVector.fromMemorySegment(B, r3, o + 2 + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    b0 = q0.and(0x0F).selectFrom(Q4_0_LO).reinterpretAsFloats().fma(xLo, b0);
                    b0 = q0.lanewise(VectorOperators.LSHR, 4).selectFrom(Q4_0_LO).reinterpretAsFloats().fma(xHi, b0);
                    b1 = q1.and(0x0F).selectFrom(Q4_0_LO).reinterpretAsFloats().fma(xLo, b1);
                    b1 = q1.lanewise(VectorOperators.LSHR, 4).selectFrom(Q4_0_LO).reinterpretAsFloats().fma(xHi, b1);
                    b2 = q2.and(0x0F).selectFrom(Q4_0_LO).reinterpretAsFloats().fma(xLo, b2);
                    b2 = q2.lanewise(VectorOperators.LSHR, 4).selectFrom(Q4_0_LO).reinterpretAsFloats().fma(xHi, b2);
                    b3 = q3.and(0x0F).selectFrom(Q4_0_LO).reinterpretAsFloats().fma(xLo, b3);
                    b3 = q3.lanewise(VectorOperators.LSHR, 4).selectFrom(Q4_0_LO).reinterpretAsFloats().fma(xHi, b3);
                }
                a0 = b0.fma(FloatVector.broadcast(F, Float.float16ToFloat(r0.get(Le.SHORT, o))), a0);
                a1 = b1.fma(FloatVector.broadcast(F, Float.float16ToFloat(r1.get(Le.SHORT, o))), a1);
                a2 = b2.fma(FloatVector.broadcast(F, Float.float16ToFloat(r2.get(Le.SHORT, o))), a2);
                a3 = b3.fma(FloatVector.broadcast(F, Float.float16ToFloat(r3.get(Le.SHORT, o))), a3);
            }
            int yi = yOff + i;
            y[yi] = a0.reduceLanes(VectorOperators.ADD);
            y[yi + yStride] = a1.reduceLanes(VectorOperators.ADD);
            y[yi + 2 * yStride] = a2.reduceLanes(VectorOperators.ADD);
            y[yi + 3 * yStride] = a3.reduceLanes(VectorOperators.ADD);
        }
    }

    /** {@link #dot4Q4_0} for two tokens, as {@link #dot4Q8_0Pair} (L = 16 only). */
    static void dot4Q4_0Pair(MemorySegment src, long off, long stride, int count, float[] x, int x0, int x1, int nBlocks,
                             float[] y, int y0, int y1, int yStride, float[] lanes) {
        int rowBytes = Math.multiplyExact(Q4_0.BYTES, nBlocks);
        int bytes = Math.toIntExact((long) count * rowBytes);
        MemorySegment r0 = src.asSlice(off, bytes), r1 = src.asSlice(off + stride, bytes);
        MemorySegment r2 = src.asSlice(off + 2 * stride, bytes), r3 = src.asSlice(off + 3 * stride, bytes);
        for (int i = 0; i < count; i++) {
            int rowOff = i * rowBytes;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;
            for (int b = 0; b < nBlocks; b++) {
                int o = rowOff + Q4_0.BYTES * b;
                FloatVector b0 = FloatVector.zero(F), b1 = b0, b2 = b0, b3 = b0, e0 = b0, e1 = b0, e2 = b0, e3 = b0;
                for (int j = 0; j < 16; j += L) {
                    var uLo = FloatVector.fromArray(F, x, x0 + 32 * b + j);
                    var uHi = FloatVector.fromArray(F, x, x0 + 32 * b + 16 + j);
                    var vLo = FloatVector.fromArray(F, x, x1 + 32 * b + j);
                    var vHi = FloatVector.fromArray(F, x, x1 + 32 * b + 16 + j);
                    var q0 = (IntVector) ByteVector.fromMemorySegment(B, r0, o + 2 + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    var lo0 = q0.and(0x0F).selectFrom(Q4_0_LO).reinterpretAsFloats();
                    var hi0 = q0.lanewise(VectorOperators.LSHR, 4).selectFrom(Q4_0_LO).reinterpretAsFloats();
                    b0 = hi0.fma(uHi, lo0.fma(uLo, b0));
                    e0 = hi0.fma(vHi, lo0.fma(vLo, e0));
                    var q1 = (IntVector) ByteVector.fromMemorySegment(B, r1, o + 2 + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    var lo1 = q1.and(0x0F).selectFrom(Q4_0_LO).reinterpretAsFloats();
                    var hi1 = q1.lanewise(VectorOperators.LSHR, 4).selectFrom(Q4_0_LO).reinterpretAsFloats();
                    b1 = hi1.fma(uHi, lo1.fma(uLo, b1));
                    e1 = hi1.fma(vHi, lo1.fma(vLo, e1));
                    var q2 = (IntVector) ByteVector.fromMemorySegment(B, r2, o + 2 + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    var lo2 = q2.and(0x0F).selectFrom(Q4_0_LO).reinterpretAsFloats();
                    var hi2 = q2.lanewise(VectorOperators.LSHR, 4).selectFrom(Q4_0_LO).reinterpretAsFloats();
                    b2 = hi2.fma(uHi, lo2.fma(uLo, b2));
                    e2 = hi2.fma(vHi, lo2.fma(vLo, e2));
                    var q3 = (IntVector) ByteVector.fromMemorySegment(B, r3, o + 2 + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    var lo3 = q3.and(0x0F).selectFrom(Q4_0_LO).reinterpretAsFloats();
                    var hi3 = q3.lanewise(VectorOperators.LSHR, 4).selectFrom(Q4_0_LO).reinterpretAsFloats();
                    b3 = hi3.fma(uHi, lo3.fma(uLo, b3));
                    e3 = hi3.fma(vHi, lo3.fma(vLo, e3));
                }
                var d0 = FloatVector.broadcast(F, Float.float16ToFloat(r0.get(Le.SHORT, o)));
                a0 = b0.fma(d0, a0);
                c0 = e0.fma(d0, c0);
                var d1 = FloatVector.broadcast(F, Float.float16ToFloat(r1.get(Le.SHORT, o)));
                a1 = b1.fma(d1, a1);
                c1 = e1.fma(d1, c1);
                var d2 = FloatVector.broadcast(F, Float.float16ToFloat(r2.get(Le.SHORT, o)));
                a2 = b2.fma(d2, a2);
                c2 = e2.fma(d2, c2);
                var d3 = FloatVector.broadcast(F, Float.float16ToFloat(r3.get(Le.SHORT, o)));
                a3 = b3.fma(d3, a3);
                c3 = e3.fma(d3, c3);
            }
            a0.intoArray(lanes, 0); a1.intoArray(lanes, L); a2.intoArray(lanes, 2 * L); a3.intoArray(lanes, 3 * L);
            c0.intoArray(lanes, 4 * L); c1.intoArray(lanes, 5 * L); c2.intoArray(lanes, 6 * L); c3.intoArray(lanes, 7 * L);
            for (int k = 0; k < 4; k++) {
                y[y0 + i + k * yStride] = sumLanes(lanes, k * L);
            }
            for (int k = 0; k < 4; k++) {
                y[y1 + i + k * yStride] = sumLanes(lanes, (4 + k) * L);
            }
        }
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

    /** Σ W·x over {@code nBlocks} Q8_0 blocks: two blocks per iteration, written out, as in {@link #dotQ4_0}. */
    static float dotQ8_0(MemorySegment src, long off, float[] x, int xOff, int nBlocks) {
        // Two accumulators (measured on one thread, best of 40–200 alternating calls: [1024 × 4096] 1.19×,
        // [32000 × 768] 1.38×, the [32000 × 288] head of stories15M 1.79×; [4096 × 4096] in L3 unchanged).
        var acc0 = FloatVector.zero(F);
        var acc1 = FloatVector.zero(F);
        int b = 0;
        for (; b + 2 <= nBlocks; b += 2, off += 2 * Q8_0.BYTES, xOff += 64) {
            var blk0 = FloatVector.zero(F);
            var blk1 = FloatVector.zero(F);
            for (int j = 0; j < 32; j += L) {
                blk0 = widen(ByteVector.fromMemorySegment(B, src, off + 2 + j, LE)).fma(FloatVector.fromArray(F, x, xOff + j), blk0);
                blk1 = widen(ByteVector.fromMemorySegment(B, src, off + Q8_0.BYTES + 2 + j, LE))
                        .fma(FloatVector.fromArray(F, x, xOff + 32 + j), blk1);
            }
            acc0 = blk0.fma(FloatVector.broadcast(F, Le.f16(src, off)), acc0);
            acc1 = blk1.fma(FloatVector.broadcast(F, Le.f16(src, off + Q8_0.BYTES)), acc1);
        }
        for (; b < nBlocks; b++, off += Q8_0.BYTES, xOff += 32) {
            var blk = FloatVector.zero(F);
            for (int j = 0; j < 32; j += L) {
                blk = widen(ByteVector.fromMemorySegment(B, src, off + 2 + j, LE)).fma(FloatVector.fromArray(F, x, xOff + j), blk);
            }
            acc0 = blk.fma(FloatVector.broadcast(F, Le.f16(src, off)), acc0);
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    /**
     * Runs of four Q8_0 rows at once: rows {@code off + i·rowBytes + k·stride} (k &lt; 4, i &lt; count) into
     * y[yOff + i + k·yStride]; one pass over x feeds four rows. The caller picks rows a quarter of the matrix apart,
     * so the four are four independent sequential streams; four neighbouring rows (816 bytes apart for 768 columns)
     * ran 2.2× slower than one row at a time over a DRAM-resident matrix, rows a quarter apart 1.2× faster (one
     * thread, [120000 × 768], best of 40), and 1.5× faster in L2. Q4_0 and NF4 have four-row kernels too
     * ({@link #dot4Q4_0}, {@link #dot4Nf4}); two- and four-row Q4_K kernels ran 2.5× and 7× slower than one row at a
     * time (C2 left part of their vector operations as calls).
     *
     * <p>Each stream is one slice of the whole run, indexed with int offsets from the loop counters (count·rowBytes
     * must fit an int): C2 then hoists the bounds checks, which long offsets into the whole matrix left in the loop
     * (1.4× slower). Slicing once per run, not once per four rows, matters as much: when C2 declines to inline
     * {@code asSlice} (its profile is shared with every other caller in the JVM, and loading a model made it "low
     * call site frequency"), four slice calls per four rows made the [32000 × 288] head of stories15M 1.8× slower.
     */
    static void dot4Q8_0(MemorySegment src, long off, long stride, int count, float[] x, int nBlocks, float[] y, int yOff,
                         int yStride) {
        int rowBytes = Math.multiplyExact(Q8_0.BYTES, nBlocks);
        int bytes = Math.toIntExact((long) count * rowBytes);
        MemorySegment r0 = src.asSlice(off, bytes), r1 = src.asSlice(off + stride, bytes);
        MemorySegment r2 = src.asSlice(off + 2 * stride, bytes), r3 = src.asSlice(off + 3 * stride, bytes);
        for (int i = 0; i < count; i++) {
            int rowOff = i * rowBytes;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int b = 0; b < nBlocks; b++) {
                int o = rowOff + Q8_0.BYTES * b;
                int xOff = 32 * b;
                FloatVector b0 = FloatVector.zero(F), b1 = b0, b2 = b0, b3 = b0;
                for (int j = 0; j < 32; j += L) {   // the blocks written out, as in dotQ4_0; each x load feeds four rows
                    var xj = FloatVector.fromArray(F, x, xOff + j);
                    b0 = widen(ByteVector.fromMemorySegment(B, r0, o + 2 + j, LE)).fma(xj, b0);
                    b1 = widen(ByteVector.fromMemorySegment(B, r1, o + 2 + j, LE)).fma(xj, b1);
                    b2 = widen(ByteVector.fromMemorySegment(B, r2, o + 2 + j, LE)).fma(xj, b2);
                    b3 = widen(ByteVector.fromMemorySegment(B, r3, o + 2 + j, LE)).fma(xj, b3);
                }
                a0 = b0.fma(FloatVector.broadcast(F, Le.f16(r0, o)), a0);
                a1 = b1.fma(FloatVector.broadcast(F, Le.f16(r1, o)), a1);
                a2 = b2.fma(FloatVector.broadcast(F, Le.f16(r2, o)), a2);
                a3 = b3.fma(FloatVector.broadcast(F, Le.f16(r3, o)), a3);
            }
            int yi = yOff + i;
            y[yi] = a0.reduceLanes(VectorOperators.ADD);   // not a helper taking vectors: a call boxes them
            y[yi + yStride] = a1.reduceLanes(VectorOperators.ADD);
            y[yi + 2 * yStride] = a2.reduceLanes(VectorOperators.ADD);
            y[yi + 3 * yStride] = a3.reduceLanes(VectorOperators.ADD);
        }
    }

    /**
     * {@link #dot4Q8_0} for two tokens at once: x rows at {@code x0} and {@code x1} into y at {@code y0} and
     * {@code y1} (plus i + k·yStride), each weight vector widened once and multiplied into both. A lone token goes
     * through as a pair with itself (x1 = x0, y1 = y0: both sums run the same operations and store the same
     * value). Lanes are summed in a fixed order through {@code lanes} (8·L floats, as {@link #sumLanes}): batched
     * decode of two or three sequences and bit-reproducible training both come here.
     */
    static void dot4Q8_0Pair(MemorySegment src, long off, long stride, int count, float[] x, int x0, int x1, int nBlocks,
                             float[] y, int y0, int y1, int yStride, float[] lanes) {
        int rowBytes = Math.multiplyExact(Q8_0.BYTES, nBlocks);
        int bytes = Math.toIntExact((long) count * rowBytes);
        MemorySegment r0 = src.asSlice(off, bytes), r1 = src.asSlice(off + stride, bytes);
        MemorySegment r2 = src.asSlice(off + 2 * stride, bytes), r3 = src.asSlice(off + 3 * stride, bytes);
        for (int i = 0; i < count; i++) {
            int rowOff = i * rowBytes;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;
            for (int b = 0; b < nBlocks; b++) {
                int o = rowOff + Q8_0.BYTES * b;
                FloatVector b0 = FloatVector.zero(F), b1 = b0, b2 = b0, b3 = b0, e0 = b0, e1 = b0, e2 = b0, e3 = b0;
                for (int j = 0; j < 32; j += L) {
                    var u = FloatVector.fromArray(F, x, x0 + 32 * b + j);
                    var v = FloatVector.fromArray(F, x, x1 + 32 * b + j);
                    var w0 = widen(ByteVector.fromMemorySegment(B, r0, o + 2 + j, LE));
                    b0 = w0.fma(u, b0);
                    e0 = w0.fma(v, e0);
                    var w1 = widen(ByteVector.fromMemorySegment(B, r1, o + 2 + j, LE));
                    b1 = w1.fma(u, b1);
                    e1 = w1.fma(v, e1);
                    var w2 = widen(ByteVector.fromMemorySegment(B, r2, o + 2 + j, LE));
                    b2 = w2.fma(u, b2);
                    e2 = w2.fma(v, e2);
                    var w3 = widen(ByteVector.fromMemorySegment(B, r3, o + 2 + j, LE));
                    b3 = w3.fma(u, b3);
                    e3 = w3.fma(v, e3);
                }
                var d0 = FloatVector.broadcast(F, Le.f16(r0, o));
                a0 = b0.fma(d0, a0);
                c0 = e0.fma(d0, c0);
                var d1 = FloatVector.broadcast(F, Le.f16(r1, o));
                a1 = b1.fma(d1, a1);
                c1 = e1.fma(d1, c1);
                var d2 = FloatVector.broadcast(F, Le.f16(r2, o));
                a2 = b2.fma(d2, a2);
                c2 = e2.fma(d2, c2);
                var d3 = FloatVector.broadcast(F, Le.f16(r3, o));
                a3 = b3.fma(d3, a3);
                c3 = e3.fma(d3, c3);
            }
            a0.intoArray(lanes, 0); a1.intoArray(lanes, L); a2.intoArray(lanes, 2 * L); a3.intoArray(lanes, 3 * L);
            c0.intoArray(lanes, 4 * L); c1.intoArray(lanes, 5 * L); c2.intoArray(lanes, 6 * L); c3.intoArray(lanes, 7 * L);
            for (int k = 0; k < 4; k++) {
                y[y0 + i + k * yStride] = sumLanes(lanes, k * L);
            }
            for (int k = 0; k < 4; k++) {
                y[y1 + i + k * yStride] = sumLanes(lanes, (4 + k) * L);
            }
        }
    }

    // ---------------------------------------------------------------- Q4_1, Q5_0, Q5_1

    /** Q4_1 blocks to floats: q·d + m, the scalar decoder's two roundings (no FMA), so bit-identical. */
    static void dequantizeQ4_1(MemorySegment src, long off, float[] dst, int dstOff, int nBlocks) {
        for (int b = 0; b < nBlocks; b++, off += Q4_1.BYTES, dstOff += 32) {
            float d = Le.f16(src, off), m = Le.f16(src, off + 2);
            for (int j = 0; j < 16; j += L) {
                var v = codes(ByteVector.fromMemorySegment(B, src, off + 4 + j, LE));
                ((FloatVector) v.and(0x0F).convert(VectorOperators.I2F, 0)).mul(d).add(m).intoArray(dst, dstOff + j);
                ((FloatVector) v.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0)).mul(d).add(m)
                        .intoArray(dst, dstOff + 16 + j);
            }
        }
    }

    /**
     * Q5_1 ({@code withMin}: q·d + m) or Q5_0 ((q − 16)·d, the subtraction exact in ints) blocks to floats, bit-identical
     * with the scalar decoders; the fifth bits as in {@link #dotQ5}.
     */
    static void dequantizeQ5(MemorySegment src, long off, float[] dst, int dstOff, int nBlocks, boolean withMin) {
        int bytes = withMin ? Q5_1.BYTES : Q5_0.BYTES, qhAt = withMin ? 4 : 2, bias = withMin ? 0 : 16;
        for (int b = 0; b < nBlocks; b++, off += bytes, dstOff += 32) {
            float d = Le.f16(src, off), m = withMin ? Le.f16(src, off + 2) : 0;
            var qh = IntVector.broadcast(I, src.get(Le.INT, off + qhAt));
            var qh4 = qh.lanewise(VectorOperators.LSHL, 4);
            for (int j = 0; j < 16; j += L) {
                var v = codes(ByteVector.fromMemorySegment(B, src, off + qhAt + 4 + j, LE));
                var lane = LANE_INDEX.add(j);
                var lo = v.and(0x0F).or(qh4.lanewise(VectorOperators.LSHR, lane).and(16)).sub(bias);
                var hi = v.lanewise(VectorOperators.LSHR, 4).or(qh.lanewise(VectorOperators.LSHR, lane.add(12)).and(16)).sub(bias);
                var wLo = ((FloatVector) lo.convert(VectorOperators.I2F, 0)).mul(d);
                var wHi = ((FloatVector) hi.convert(VectorOperators.I2F, 0)).mul(d);
                (withMin ? wLo.add(m) : wLo).intoArray(dst, dstOff + j);
                (withMin ? wHi.add(m) : wHi).intoArray(dst, dstOff + 16 + j);
            }
        }
    }

    /** Σ W·x over {@code nBlocks} Q4_1 blocks (w = d·q + m), sums32[b] = Σ x over block b ({@link #sums32}). */
    static float dotQ4_1(MemorySegment src, long off, float[] x, int xOff, int nBlocks, float[] sums32) {
        var acc = FloatVector.zero(F);
        float minSum = 0;
        for (int b = 0; b < nBlocks; b++, off += Q4_1.BYTES, xOff += 32) {
            minSum += Le.f16(src, off + 2) * sums32[b];
            var blk = FloatVector.zero(F);
            for (int j = 0; j < 16; j += L) {
                var v = codes(ByteVector.fromMemorySegment(B, src, off + 4 + j, LE));
                blk = ((FloatVector) v.and(0x0F).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, xOff + j), blk);
                blk = ((FloatVector) v.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0))
                        .fma(FloatVector.fromArray(F, x, xOff + 16 + j), blk);
            }
            acc = blk.fma(FloatVector.broadcast(F, Le.f16(src, off)), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD) + minSum;
    }

    /**
     * Σ W·x over {@code nBlocks} Q5_1 blocks ({@code withMin}: w = d·q + m) or Q5_0 blocks (w = d·(q − 16), the
     * same with m = −16·d), sums32[b] = Σ x over block b. Bit i of the block's 32-bit qh is the fifth bit of element
     * i: lane k of a run from element j takes it by a per-lane shift (j + k for the low nibbles, of qh &lt;&lt; 4; j + k
     * + 12 for the high ones).
     */
    static float dotQ5(MemorySegment src, long off, float[] x, int xOff, int nBlocks, float[] sums32, boolean withMin) {
        int bytes = withMin ? Q5_1.BYTES : Q5_0.BYTES, qhAt = withMin ? 4 : 2;
        var acc = FloatVector.zero(F);
        float minSum = 0;
        for (int b = 0; b < nBlocks; b++, off += bytes, xOff += 32) {
            float d = Le.f16(src, off);
            minSum += (withMin ? Le.f16(src, off + 2) : -16 * d) * sums32[b];
            var qh = IntVector.broadcast(I, src.get(Le.INT, off + qhAt));
            var qh4 = qh.lanewise(VectorOperators.LSHL, 4);
            var blk = FloatVector.zero(F);
            for (int j = 0; j < 16; j += L) {
                var v = codes(ByteVector.fromMemorySegment(B, src, off + qhAt + 4 + j, LE));
                var lane = LANE_INDEX.add(j);
                var lo = v.and(0x0F).or(qh4.lanewise(VectorOperators.LSHR, lane).and(16));
                var hi = v.lanewise(VectorOperators.LSHR, 4).or(qh.lanewise(VectorOperators.LSHR, lane.add(12)).and(16));
                blk = ((FloatVector) lo.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, xOff + j), blk);
                blk = ((FloatVector) hi.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, xOff + 16 + j), blk);
            }
            acc = blk.fma(FloatVector.broadcast(F, d), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD) + minSum;
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

    /**
     * Σ W·x over {@code nBlocks} Q4_K blocks, or Q5_K blocks with {@code fifthBits} (their qh adds bit is of qh[l] to
     * the low nibbles of sub-block pair is/2 and bit is + 1 to the high ones, joined on int lanes after zero
     * extension: a byte shift costs several instructions on x86, an int shift one), with sums32[j] = Σ x over the
     * j-th run of 32 elements from xOff ({@link #sums32}), computed once per matvec for all rows:
     * Σ (d·sc·q − dmin·m)·x = Σ_j d·sc_j·(Σ q·x) − dmin·Σ_j m_j·(Σ x). Summing x in every row's loop instead cost
     * 1.2× the time (one thread, [256 × 4096] in L2 and 4096² in L3), as did adding the eight min terms in one chain.
     */
    static float dotQ4_KOrQ5_K(MemorySegment src, long off, float[] x, int xOff, int nBlocks, float[] sums32, boolean fifthBits) {
        int bytes = fifthBits ? Q5_K.BYTES : Q4_K.BYTES, codesAt = fifthBits ? 48 : 16;
        var accLo = FloatVector.zero(F);
        var accHi = FloatVector.zero(F);
        float minSum = 0;
        for (int b = 0, sumsOff = 0; b < nBlocks; b++, off += bytes, sumsOff += 8) {
            float d = Le.f16(src, off), dmin = Le.f16(src, off + 2);
            long scales = KQuants.scalesK4(src, off + 4);
            minSum += dmin * minTerms(KQuants.minsK4(src, off + 4), sums32, sumsOff);
            long q = off + codesAt, qh = off + 16;
            for (int is = 0; is < 8; is += 2, q += 32, xOff += 64) {
                var lo = FloatVector.zero(F);
                var hi = FloatVector.zero(F);
                for (int l = 0; l < 32; l += L) {
                    var v = codes(ByteVector.fromMemorySegment(B, src, q + l, LE));
                    var qLo = v.and(0x0F);
                    var qHi = v.lanewise(VectorOperators.LSHR, 4);
                    if (fifthBits) {   // bit is of qh lands on bit 4 of (qh << 4) >>> is: worth 16
                        var h = codes(ByteVector.fromMemorySegment(B, src, qh + l, LE)).lanewise(VectorOperators.LSHL, 4);
                        qLo = qLo.or(h.lanewise(VectorOperators.LSHR, is).and(16));
                        qHi = qHi.or(h.lanewise(VectorOperators.LSHR, is + 1).and(16));
                    }
                    lo = ((FloatVector) qLo.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, xOff + l), lo);
                    hi = ((FloatVector) qHi.convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, x, xOff + 32 + l), hi);
                }
                accLo = lo.fma(FloatVector.broadcast(F, d * KQuants.byteAt(scales, is)), accLo);
                accHi = hi.fma(FloatVector.broadcast(F, d * KQuants.byteAt(scales, is + 1)), accHi);
            }
        }
        return accLo.add(accHi).reduceLanes(VectorOperators.ADD) - minSum;
    }

    /**
     * {@link #dotQ4_KOrQ5_K} for two tokens (x rows at {@code x0} and {@code x1}, their sums32 {@code sums0} and
     * {@code sums1}) into y[y0] and y[y1]: the scales, mins and codes of each block are unpacked once for both. A
     * lone token goes through as a pair with itself. Lanes are summed in a fixed order through {@code lanes} (2·L
     * floats), as {@link #dot4Q8_0Pair}.
     */
    static void dotQ4_KOrQ5_KPair(MemorySegment src, long off, float[] x, int x0, int x1, int nBlocks, float[] sums0,
                                  float[] sums1, boolean fifthBits, float[] y, int y0, int y1, float[] lanes) {
        int bytes = fifthBits ? Q5_K.BYTES : Q4_K.BYTES, codesAt = fifthBits ? 48 : 16;
        var lo0Acc = FloatVector.zero(F);
        var hi0Acc = lo0Acc;
        var lo1Acc = lo0Acc;
        var hi1Acc = lo0Acc;
        float minSum0 = 0, minSum1 = 0;
        for (int b = 0; b < nBlocks; b++, off += bytes) {
            float d = Le.f16(src, off), dmin = Le.f16(src, off + 2);
            long scales = KQuants.scalesK4(src, off + 4), mins = KQuants.minsK4(src, off + 4);
            minSum0 += dmin * minTerms(mins, sums0, 8 * b);
            minSum1 += dmin * minTerms(mins, sums1, 8 * b);
            long q = off + codesAt, qh = off + 16;
            for (int is = 0; is < 8; is += 2, q += 32) {
                int xo = 256 * b + 32 * is;
                var lo0 = FloatVector.zero(F);
                var hi0 = lo0;
                var lo1 = lo0;
                var hi1 = lo0;
                for (int l = 0; l < 32; l += L) {
                    var v = codes(ByteVector.fromMemorySegment(B, src, q + l, LE));
                    var qLo = v.and(0x0F);
                    var qHi = v.lanewise(VectorOperators.LSHR, 4);
                    if (fifthBits) {   // as in dotQ4_KOrQ5_K
                        var h = codes(ByteVector.fromMemorySegment(B, src, qh + l, LE)).lanewise(VectorOperators.LSHL, 4);
                        qLo = qLo.or(h.lanewise(VectorOperators.LSHR, is).and(16));
                        qHi = qHi.or(h.lanewise(VectorOperators.LSHR, is + 1).and(16));
                    }
                    var wLo = (FloatVector) qLo.convert(VectorOperators.I2F, 0);
                    var wHi = (FloatVector) qHi.convert(VectorOperators.I2F, 0);
                    lo0 = wLo.fma(FloatVector.fromArray(F, x, x0 + xo + l), lo0);
                    hi0 = wHi.fma(FloatVector.fromArray(F, x, x0 + xo + 32 + l), hi0);
                    lo1 = wLo.fma(FloatVector.fromArray(F, x, x1 + xo + l), lo1);
                    hi1 = wHi.fma(FloatVector.fromArray(F, x, x1 + xo + 32 + l), hi1);
                }
                var sLo = FloatVector.broadcast(F, d * KQuants.byteAt(scales, is));
                var sHi = FloatVector.broadcast(F, d * KQuants.byteAt(scales, is + 1));
                lo0Acc = lo0.fma(sLo, lo0Acc);
                hi0Acc = hi0.fma(sHi, hi0Acc);
                lo1Acc = lo1.fma(sLo, lo1Acc);
                hi1Acc = hi1.fma(sHi, hi1Acc);
            }
        }
        lo0Acc.add(hi0Acc).intoArray(lanes, 0);
        lo1Acc.add(hi1Acc).intoArray(lanes, L);
        y[y0] = sumLanes(lanes, 0) - minSum0;
        y[y1] = sumLanes(lanes, L) - minSum1;
    }

    /** Σ_j m_j·sums32[j0 + j] over the eight 6-bit mins of a Q4_K/Q5_K block, summed as a tree (one chain cost 1.2×). */
    private static float minTerms(long mins, float[] sums32, int j0) {
        float m01 = KQuants.byteAt(mins, 0) * sums32[j0] + KQuants.byteAt(mins, 1) * sums32[j0 + 1];
        float m23 = KQuants.byteAt(mins, 2) * sums32[j0 + 2] + KQuants.byteAt(mins, 3) * sums32[j0 + 3];
        float m45 = KQuants.byteAt(mins, 4) * sums32[j0 + 4] + KQuants.byteAt(mins, 5) * sums32[j0 + 5];
        float m67 = KQuants.byteAt(mins, 6) * sums32[j0 + 6] + KQuants.byteAt(mins, 7) * sums32[j0 + 7];
        return (m01 + m23) + (m45 + m67);
    }

    /** sums[i] = Σ x[xOff + 32·i + k] for k &lt; 32, i &lt; n / 32. */
    static float[] sums32(float[] x, int xOff, int n) {
        float[] sums = new float[n / 32];
        for (int i = 0; i < sums.length; i++, xOff += 32) {
            var s = FloatVector.zero(F);
            for (int k = 0; k < 32; k += L) {
                s = s.add(FloatVector.fromArray(F, x, xOff + k));
            }
            sums[i] = s.reduceLanes(VectorOperators.ADD);
        }
        return sums;
    }

    // ---------------------------------------------------------------- Q5_K

    static void dequantizeQ5_K(MemorySegment src, long off, float[] dst, int dstOff, int nBlocks) {
        for (int b = 0; b < nBlocks; b++, off += Q5_K.BYTES) {
            float d = Le.f16(src, off), min = Le.f16(src, off + 2);
            long ql = off + 48, qh = off + 16;
            for (int is = 0; is < 8; is += 2, ql += 32, dstOff += 64) {
                float d1 = d * KQuants.scaleK4(src, off + 4, is), m1 = min * KQuants.minK4(src, off + 4, is);
                float d2 = d * KQuants.scaleK4(src, off + 4, is + 1), m2 = min * KQuants.minK4(src, off + 4, is + 1);
                for (int l = 0; l < 32; l += L) {
                    // the fifth bits joined on int lanes, as in dotQ5_K: bit is of qh lands on bit 4 of (qh << 4) >>> is
                    var v = codes(ByteVector.fromMemorySegment(B, src, ql + l, LE));
                    var h = codes(ByteVector.fromMemorySegment(B, src, qh + l, LE)).lanewise(VectorOperators.LSHL, 4);
                    var qLo = v.and(0x0F).or(h.lanewise(VectorOperators.LSHR, is).and(16));
                    var qHi = v.lanewise(VectorOperators.LSHR, 4).or(h.lanewise(VectorOperators.LSHR, is + 1).and(16));
                    ((FloatVector) qLo.convert(VectorOperators.I2F, 0)).mul(d1).sub(m1).intoArray(dst, dstOff + l);
                    ((FloatVector) qHi.convert(VectorOperators.I2F, 0)).mul(d2).sub(m2).intoArray(dst, dstOff + 32 + l);
                }
            }
        }
    }

    // ---------------------------------------------------------------- Q6_K

    static void dequantizeQ6_K(MemorySegment src, long off, float[] dst, int dstOff, int nBlocks) {
        for (int b = 0; b < nBlocks; b++, off += Q6_K.BYTES) {
            float d = Le.f16(src, off + 208);
            long ql = off, qh = off + 128, sc = off + 192;
            for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, dstOff += 128) {
                long scales = src.get(Le.LONG, sc);
                for (int l = 0; l < 32; l += L) {
                    int is = l / 16;
                    // the codes joined on int lanes as in dotQ6_K; (d·scale)·q, the order of ggml's d * sc[is] * q
                    var a = codes(ByteVector.fromMemorySegment(B, src, ql + l, LE));
                    var c = codes(ByteVector.fromMemorySegment(B, src, ql + l + 32, LE));
                    var h = codes(ByteVector.fromMemorySegment(B, src, qh + l, LE));
                    var q1 = a.and(0x0F).or(h.lanewise(VectorOperators.LSHL, 4).and(48)).sub(32);
                    var q2 = c.and(0x0F).or(h.lanewise(VectorOperators.LSHL, 2).and(48)).sub(32);
                    var q3 = a.lanewise(VectorOperators.LSHR, 4).or(h.and(48)).sub(32);
                    var q4 = c.lanewise(VectorOperators.LSHR, 4).or(h.lanewise(VectorOperators.LSHR, 2).and(48)).sub(32);
                    ((FloatVector) q1.convert(VectorOperators.I2F, 0)).mul(d * (byte) (scales >>> 8 * is)).intoArray(dst, dstOff + l);
                    ((FloatVector) q2.convert(VectorOperators.I2F, 0)).mul(d * (byte) (scales >>> 8 * (is + 2))).intoArray(dst, dstOff + l + 32);
                    ((FloatVector) q3.convert(VectorOperators.I2F, 0)).mul(d * (byte) (scales >>> 8 * (is + 4))).intoArray(dst, dstOff + l + 64);
                    ((FloatVector) q4.convert(VectorOperators.I2F, 0)).mul(d * (byte) (scales >>> 8 * (is + 6))).intoArray(dst, dstOff + l + 96);
                }
            }
        }
    }

    /**
     * Σ W·x over {@code nBlocks} Q6_K blocks. The 6-bit codes are put together on int lanes after zero extension
     * (one instruction per shift; byte shifts cost several on x86, and a dot using them ran 4.5–5.4×
     * slower, one thread, [1024 × 4096] and 4096²), then scaled per 16 elements.
     */
    static float dotQ6_K(MemorySegment src, long off, float[] x, int xOff, int nBlocks) {
        var acc0 = FloatVector.zero(F);
        var acc1 = FloatVector.zero(F);
        for (int b = 0; b < nBlocks; b++, off += Q6_K.BYTES) {
            float d = Le.f16(src, off + 208);
            long ql = off, qh = off + 128, sc = off + 192;
            for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, xOff += 128) {
                // the half's eight int8 scales in one read: a segment read per scale left C2 over its node budget
                long scales = src.get(Le.LONG, sc);
                for (int l = 0; l < 32; l += L) {
                    int is = l / 16;
                    var a = codes(ByteVector.fromMemorySegment(B, src, ql + l, LE));
                    var c = codes(ByteVector.fromMemorySegment(B, src, ql + l + 32, LE));
                    var h = codes(ByteVector.fromMemorySegment(B, src, qh + l, LE));
                    // q − 32 with q = low 4 bits | 2 high bits << 4; the high bits masked in place (48 = 0b110000)
                    var q1 = a.and(0x0F).or(h.lanewise(VectorOperators.LSHL, 4).and(48)).sub(32);
                    var q2 = c.and(0x0F).or(h.lanewise(VectorOperators.LSHL, 2).and(48)).sub(32);
                    var q3 = a.lanewise(VectorOperators.LSHR, 4).or(h.and(48)).sub(32);
                    var q4 = c.lanewise(VectorOperators.LSHR, 4).or(h.lanewise(VectorOperators.LSHR, 2).and(48)).sub(32);
                    acc0 = ((FloatVector) q1.convert(VectorOperators.I2F, 0)).mul(FloatVector.fromArray(F, x, xOff + l))
                            .fma(FloatVector.broadcast(F, d * (byte) (scales >>> 8 * is)), acc0);
                    acc1 = ((FloatVector) q2.convert(VectorOperators.I2F, 0)).mul(FloatVector.fromArray(F, x, xOff + l + 32))
                            .fma(FloatVector.broadcast(F, d * (byte) (scales >>> 8 * (is + 2))), acc1);
                    acc0 = ((FloatVector) q3.convert(VectorOperators.I2F, 0)).mul(FloatVector.fromArray(F, x, xOff + l + 64))
                            .fma(FloatVector.broadcast(F, d * (byte) (scales >>> 8 * (is + 4))), acc0);
                    acc1 = ((FloatVector) q4.convert(VectorOperators.I2F, 0)).mul(FloatVector.fromArray(F, x, xOff + l + 96))
                            .fma(FloatVector.broadcast(F, d * (byte) (scales >>> 8 * (is + 6))), acc1);
                }
            }
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    // ---------------------------------------------------------------- NF4 (Q4 packing, see Nf4Matrix)

    /** The NF4 levels of L 4-bit codes (int lanes, values 0..15). */
    private static FloatVector nf4Levels(IntVector idx) {
        return lookup(idx, NF4_LO, NF4_HI);
    }

    /**
     * dst[dstOff + i] = NF4[code]·absmax(b) over {@code nBlocks} blocks from block {@code b0} (codes at {@code off});
     * the same float products as the scalar decoder.
     */
    static void dequantizeNf4(MemorySegment codes, long off, byte[] qAbsmax, float[] absmax2, float offset, int b0,
                              int nBlocks, float[] dst, int dstOff) {
        for (int k = 0; k < nBlocks; k++, off += 32, dstOff += 64) {
            int b = b0 + k;
            float absmax = nf4Absmax(qAbsmax, absmax2, offset, b);
            for (int j = 0; j < 32; j += L) {
                var q = ByteVector.fromMemorySegment(B, codes, off + j, LE);
                nf4Levels(codes(q).and(0x0F)).mul(absmax).intoArray(dst, dstOff + j);
                nf4Levels(codes(q).lanewise(VectorOperators.LSHR, 4)).mul(absmax).intoArray(dst, dstOff + 32 + j);
            }
        }
    }

    /**
     * Σ_i W[i]·x[xOff + i] over {@code nBlocks} NF4 blocks starting at block {@code b0} (codes at {@code off}),
     * absmax(b) = DYNAMIC[qAbsmax[b]]·absmax2[b/256] + offset as in {@link Nf4Matrix#absmax}.
     */
    static float dotNf4(MemorySegment codes, long off, byte[] qAbsmax, float[] absmax2, float offset, int b0,
                        int nBlocks, float[] x, int xOff) {
        // Two blocks per iteration, written out, as in dotQ4_0.
        var acc0 = FloatVector.zero(F);
        var acc1 = FloatVector.zero(F);
        int k = 0;
        for (; k + 2 <= nBlocks; k += 2, off += 64, xOff += 128) {
            var blk0 = FloatVector.zero(F);
            var blk1 = FloatVector.zero(F);
            for (int j = 0; j < 32; j += L) {
                var q0 = codes(ByteVector.fromMemorySegment(B, codes, off + j, LE));
                var q1 = codes(ByteVector.fromMemorySegment(B, codes, off + 32 + j, LE));
                blk0 = nf4Levels(q0.and(0x0F)).fma(FloatVector.fromArray(F, x, xOff + j), blk0);
                blk0 = nf4Levels(q0.lanewise(VectorOperators.LSHR, 4)).fma(FloatVector.fromArray(F, x, xOff + 32 + j), blk0);
                blk1 = nf4Levels(q1.and(0x0F)).fma(FloatVector.fromArray(F, x, xOff + 64 + j), blk1);
                blk1 = nf4Levels(q1.lanewise(VectorOperators.LSHR, 4)).fma(FloatVector.fromArray(F, x, xOff + 96 + j), blk1);
            }
            acc0 = blk0.fma(FloatVector.broadcast(F, nf4Absmax(qAbsmax, absmax2, offset, b0 + k)), acc0);
            acc1 = blk1.fma(FloatVector.broadcast(F, nf4Absmax(qAbsmax, absmax2, offset, b0 + k + 1)), acc1);
        }
        for (; k < nBlocks; k++, off += 32, xOff += 64) {
            var blk = FloatVector.zero(F);
            for (int j = 0; j < 32; j += L) {
                var q = codes(ByteVector.fromMemorySegment(B, codes, off + j, LE));
                blk = nf4Levels(q.and(0x0F)).fma(FloatVector.fromArray(F, x, xOff + j), blk);
                blk = nf4Levels(q.lanewise(VectorOperators.LSHR, 4)).fma(FloatVector.fromArray(F, x, xOff + 32 + j), blk);
            }
            acc0 = blk.fma(FloatVector.broadcast(F, nf4Absmax(qAbsmax, absmax2, offset, b0 + k)), acc0);
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    /**
     * Runs of four NF4 rows at once, as {@link #dot4Q8_0} (L = 16 only): codes of row i &lt; count at
     * {@code off + i·rowBytes + k·stride}, their blocks from {@code b0 + i·nBlocks + k·blockStride}.
     */
    static void dot4Nf4(MemorySegment codes, long off, long stride, int count, byte[] qAbsmax, float[] absmax2, float offset,
                        int b0, int blockStride, int nBlocks, float[] x, float[] y, int yOff, int yStride) {
        int rowBytes = Math.multiplyExact(32, nBlocks);
        int bytes = Math.toIntExact((long) count * rowBytes);
        MemorySegment r0 = codes.asSlice(off, bytes), r1 = codes.asSlice(off + stride, bytes);
        MemorySegment r2 = codes.asSlice(off + 2 * stride, bytes), r3 = codes.asSlice(off + 3 * stride, bytes);
        for (int i = 0; i < count; i++) {
            int rowOff = i * rowBytes;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int k = 0; k < nBlocks; k++) {
                int o = rowOff + 32 * k;
                int xOff = 64 * k;
                FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0;
                for (int j = 0; j < 32; j += L) {
                    var xLo = FloatVector.fromArray(F, x, xOff + j);
                    var xHi = FloatVector.fromArray(F, x, xOff + 32 + j);
                    var q0 = (IntVector) ByteVector.fromMemorySegment(B, r0, o + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    var q1 = (IntVector) ByteVector.fromMemorySegment(B, r1, o + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    var q2 = (IntVector) ByteVector.fromMemorySegment(B, r2, o + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    var q3 = (IntVector) ByteVector.fromMemorySegment(B, r3, o + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    c0 = q0.and(0x0F).selectFrom(NF4_LO).reinterpretAsFloats().fma(xLo, c0);
                    c0 = q0.lanewise(VectorOperators.LSHR, 4).selectFrom(NF4_LO).reinterpretAsFloats().fma(xHi, c0);
                    c1 = q1.and(0x0F).selectFrom(NF4_LO).reinterpretAsFloats().fma(xLo, c1);
                    c1 = q1.lanewise(VectorOperators.LSHR, 4).selectFrom(NF4_LO).reinterpretAsFloats().fma(xHi, c1);
                    c2 = q2.and(0x0F).selectFrom(NF4_LO).reinterpretAsFloats().fma(xLo, c2);
                    c2 = q2.lanewise(VectorOperators.LSHR, 4).selectFrom(NF4_LO).reinterpretAsFloats().fma(xHi, c2);
                    c3 = q3.and(0x0F).selectFrom(NF4_LO).reinterpretAsFloats().fma(xLo, c3);
                    c3 = q3.lanewise(VectorOperators.LSHR, 4).selectFrom(NF4_LO).reinterpretAsFloats().fma(xHi, c3);
                }
                // absmax(b) as in nf4Absmax, written out: past C2's node budget that call was not inlined
                int b = b0 + i * nBlocks + k, b1 = b + blockStride, b2 = b1 + blockStride, b3 = b2 + blockStride;
                a0 = c0.fma(FloatVector.broadcast(F, Nf4.DYNAMIC[qAbsmax[b] & 0xFF] * absmax2[b / Nf4.DQ_BLOCK] + offset), a0);
                a1 = c1.fma(FloatVector.broadcast(F, Nf4.DYNAMIC[qAbsmax[b1] & 0xFF] * absmax2[b1 / Nf4.DQ_BLOCK] + offset), a1);
                a2 = c2.fma(FloatVector.broadcast(F, Nf4.DYNAMIC[qAbsmax[b2] & 0xFF] * absmax2[b2 / Nf4.DQ_BLOCK] + offset), a2);
                a3 = c3.fma(FloatVector.broadcast(F, Nf4.DYNAMIC[qAbsmax[b3] & 0xFF] * absmax2[b3 / Nf4.DQ_BLOCK] + offset), a3);
            }
            int yi = yOff + i;
            y[yi] = a0.reduceLanes(VectorOperators.ADD);
            y[yi + yStride] = a1.reduceLanes(VectorOperators.ADD);
            y[yi + 2 * yStride] = a2.reduceLanes(VectorOperators.ADD);
            y[yi + 3 * yStride] = a3.reduceLanes(VectorOperators.ADD);
        }
    }

    /** {@link #dot4Nf4} for two tokens, as {@link #dot4Q8_0Pair} (L = 16 only). */
    static void dot4Nf4Pair(MemorySegment codes, long off, long stride, int count, byte[] qAbsmax, float[] absmax2,
                            float offset, int b0, int blockStride, int nBlocks, float[] x, int x0, int x1, float[] y,
                            int y0, int y1, int yStride, float[] lanes) {
        int rowBytes = Math.multiplyExact(32, nBlocks);
        int bytes = Math.toIntExact((long) count * rowBytes);
        MemorySegment r0 = codes.asSlice(off, bytes), r1 = codes.asSlice(off + stride, bytes);
        MemorySegment r2 = codes.asSlice(off + 2 * stride, bytes), r3 = codes.asSlice(off + 3 * stride, bytes);
        for (int i = 0; i < count; i++) {
            int rowOff = i * rowBytes;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;
            for (int k = 0; k < nBlocks; k++) {
                int o = rowOff + 32 * k;
                FloatVector p0 = FloatVector.zero(F), p1 = p0, p2 = p0, p3 = p0, e0 = p0, e1 = p0, e2 = p0, e3 = p0;
                for (int j = 0; j < 32; j += L) {
                    var uLo = FloatVector.fromArray(F, x, x0 + 64 * k + j);
                    var uHi = FloatVector.fromArray(F, x, x0 + 64 * k + 32 + j);
                    var vLo = FloatVector.fromArray(F, x, x1 + 64 * k + j);
                    var vHi = FloatVector.fromArray(F, x, x1 + 64 * k + 32 + j);
                    var q0 = (IntVector) ByteVector.fromMemorySegment(B, r0, o + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    var lo0 = q0.and(0x0F).selectFrom(NF4_LO).reinterpretAsFloats();
                    var hi0 = q0.lanewise(VectorOperators.LSHR, 4).selectFrom(NF4_LO).reinterpretAsFloats();
                    p0 = hi0.fma(uHi, lo0.fma(uLo, p0));
                    e0 = hi0.fma(vHi, lo0.fma(vLo, e0));
                    var q1 = (IntVector) ByteVector.fromMemorySegment(B, r1, o + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    var lo1 = q1.and(0x0F).selectFrom(NF4_LO).reinterpretAsFloats();
                    var hi1 = q1.lanewise(VectorOperators.LSHR, 4).selectFrom(NF4_LO).reinterpretAsFloats();
                    p1 = hi1.fma(uHi, lo1.fma(uLo, p1));
                    e1 = hi1.fma(vHi, lo1.fma(vLo, e1));
                    var q2 = (IntVector) ByteVector.fromMemorySegment(B, r2, o + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    var lo2 = q2.and(0x0F).selectFrom(NF4_LO).reinterpretAsFloats();
                    var hi2 = q2.lanewise(VectorOperators.LSHR, 4).selectFrom(NF4_LO).reinterpretAsFloats();
                    p2 = hi2.fma(uHi, lo2.fma(uLo, p2));
                    e2 = hi2.fma(vHi, lo2.fma(vLo, e2));
                    var q3 = (IntVector) ByteVector.fromMemorySegment(B, r3, o + j, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    var lo3 = q3.and(0x0F).selectFrom(NF4_LO).reinterpretAsFloats();
                    var hi3 = q3.lanewise(VectorOperators.LSHR, 4).selectFrom(NF4_LO).reinterpretAsFloats();
                    p3 = hi3.fma(uHi, lo3.fma(uLo, p3));
                    e3 = hi3.fma(vHi, lo3.fma(vLo, e3));
                }
                // absmax(b) as in nf4Absmax, written out (see dot4Nf4)
                int b = b0 + i * nBlocks + k, b1 = b + blockStride, b2 = b1 + blockStride, b3 = b2 + blockStride;
                var s0 = FloatVector.broadcast(F, Nf4.DYNAMIC[qAbsmax[b] & 0xFF] * absmax2[b / Nf4.DQ_BLOCK] + offset);
                a0 = p0.fma(s0, a0);
                c0 = e0.fma(s0, c0);
                var s1 = FloatVector.broadcast(F, Nf4.DYNAMIC[qAbsmax[b1] & 0xFF] * absmax2[b1 / Nf4.DQ_BLOCK] + offset);
                a1 = p1.fma(s1, a1);
                c1 = e1.fma(s1, c1);
                var s2 = FloatVector.broadcast(F, Nf4.DYNAMIC[qAbsmax[b2] & 0xFF] * absmax2[b2 / Nf4.DQ_BLOCK] + offset);
                a2 = p2.fma(s2, a2);
                c2 = e2.fma(s2, c2);
                var s3 = FloatVector.broadcast(F, Nf4.DYNAMIC[qAbsmax[b3] & 0xFF] * absmax2[b3 / Nf4.DQ_BLOCK] + offset);
                a3 = p3.fma(s3, a3);
                c3 = e3.fma(s3, c3);
            }
            a0.intoArray(lanes, 0); a1.intoArray(lanes, L); a2.intoArray(lanes, 2 * L); a3.intoArray(lanes, 3 * L);
            c0.intoArray(lanes, 4 * L); c1.intoArray(lanes, 5 * L); c2.intoArray(lanes, 6 * L); c3.intoArray(lanes, 7 * L);
            for (int q = 0; q < 4; q++) {
                y[y0 + i + q * yStride] = sumLanes(lanes, q * L);
            }
            for (int q = 0; q < 4; q++) {
                y[y1 + i + q * yStride] = sumLanes(lanes, (4 + q) * L);
            }
        }
    }

    private static float nf4Absmax(byte[] qAbsmax, float[] absmax2, float offset, int b) {
        return Nf4.DYNAMIC[qAbsmax[b] & 0xFF] * absmax2[b / Nf4.DQ_BLOCK] + offset;
    }

    // ---------------------------------------------------------------- register-blocked fp32 tile for T > 1

    /**
     * out[4·a + b] = Σ_{i<n} w[wOff + a·wStride + i]·x[xOff + b·xStride + i] for a, b &lt; 4: four decoded weight
     * rows against four rows of x with 16 accumulators, so each loaded vector feeds four FMAs. The accumulators'
     * lanes are summed through {@code lanes} (at least 16·{@link #lanes()} floats) in a fixed order
     * ({@link #sumLanes}): {@code reduceLanes} gives different last bits in C2 than in the interpreter and C1, and
     * bit-reproducible training runs its frozen weights' forward here.
     */
    static void dot4x4(float[] w, int wOff, int wStride, float[] x, int xOff, int xStride, int n, float[] lanes, float[] out) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00,
                a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            var x0 = FloatVector.fromArray(F, x, xOff + i);
            var x1 = FloatVector.fromArray(F, x, xOff + xStride + i);
            var x2 = FloatVector.fromArray(F, x, xOff + 2 * xStride + i);
            var x3 = FloatVector.fromArray(F, x, xOff + 3 * xStride + i);
            var w0 = FloatVector.fromArray(F, w, wOff + i);
            a00 = w0.fma(x0, a00); a01 = w0.fma(x1, a01); a02 = w0.fma(x2, a02); a03 = w0.fma(x3, a03);
            var w1 = FloatVector.fromArray(F, w, wOff + wStride + i);
            a10 = w1.fma(x0, a10); a11 = w1.fma(x1, a11); a12 = w1.fma(x2, a12); a13 = w1.fma(x3, a13);
            var w2 = FloatVector.fromArray(F, w, wOff + 2 * wStride + i);
            a20 = w2.fma(x0, a20); a21 = w2.fma(x1, a21); a22 = w2.fma(x2, a22); a23 = w2.fma(x3, a23);
            var w3 = FloatVector.fromArray(F, w, wOff + 3 * wStride + i);
            a30 = w3.fma(x0, a30); a31 = w3.fma(x1, a31); a32 = w3.fma(x2, a32); a33 = w3.fma(x3, a33);
        }
        a00.intoArray(lanes, 0); a01.intoArray(lanes, L); a02.intoArray(lanes, 2 * L); a03.intoArray(lanes, 3 * L);
        a10.intoArray(lanes, 4 * L); a11.intoArray(lanes, 5 * L); a12.intoArray(lanes, 6 * L); a13.intoArray(lanes, 7 * L);
        a20.intoArray(lanes, 8 * L); a21.intoArray(lanes, 9 * L); a22.intoArray(lanes, 10 * L); a23.intoArray(lanes, 11 * L);
        a30.intoArray(lanes, 12 * L); a31.intoArray(lanes, 13 * L); a32.intoArray(lanes, 14 * L); a33.intoArray(lanes, 15 * L);
        for (int k = 0; k < 16; k++) {
            out[k] = sumLanes(lanes, k * L);
        }
        for (int k = 0; k < 16 && i < n; k++) {
            int wo = wOff + (k >> 2) * wStride, xo = xOff + (k & 3) * xStride;
            float s = 0;
            for (int j = i; j < n; j++) {
                s += w[wo + j] * x[xo + j];
            }
            out[k] += s;
        }
    }

    /**
     * out[a] = Σ_{i<n} w[wOff + a·wStride + i]·x[xOff + i] for a &lt; 4: the tokens of a T &gt; 1 tile left over after
     * {@link #dot4x4}, four decoded rows per load of x, summed in the same fixed order.
     */
    static void dot4x1(float[] w, int wOff, int wStride, float[] x, int xOff, int n, float[] lanes, float[] out) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            var x0 = FloatVector.fromArray(F, x, xOff + i);
            a0 = FloatVector.fromArray(F, w, wOff + i).fma(x0, a0);
            a1 = FloatVector.fromArray(F, w, wOff + wStride + i).fma(x0, a1);
            a2 = FloatVector.fromArray(F, w, wOff + 2 * wStride + i).fma(x0, a2);
            a3 = FloatVector.fromArray(F, w, wOff + 3 * wStride + i).fma(x0, a3);
        }
        a0.intoArray(lanes, 0); a1.intoArray(lanes, L); a2.intoArray(lanes, 2 * L); a3.intoArray(lanes, 3 * L);
        for (int k = 0; k < 4; k++) {
            out[k] = sumLanes(lanes, k * L);
        }
        for (int k = 0; k < 4 && i < n; k++) {
            float s = 0;
            for (int j = i; j < n; j++) {
                s += w[wOff + k * wStride + j] * x[xOff + j];
            }
            out[k] += s;
        }
    }

    /** a[off] + … + a[off + L − 1] as four interleaved partial sums, then their pairs: one order in every JIT tier. */
    private static float sumLanes(float[] a, int off) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int i = off; i < off + L; i += 4) {
            s0 += a[i];
            s1 += a[i + 1];
            s2 += a[i + 2];
            s3 += a[i + 3];
        }
        return (s0 + s1) + (s2 + s3);
    }

    /**
     * y[yOff + t·yStride + i] += Σ_{k<r} a[aOff + t·aStride + k]·w[wOff + k·wStride + i] for t &lt; tn (a multiple of
     * four) and i &lt; n: a decoded tile of r weight rows applied to tn rows of dx at once. Register blocks of 4 rows of
     * y × 2 vectors keep eight accumulators live across the whole k loop, so each loaded weight vector feeds four
     * FMAs and y is loaded and stored once per tile instead of once per four weight rows (as {@link #axpy4} does).
     * Column strips are the outer loop so that one strip of the tile (r × 2 vectors) stays in L1 across all rows.
     */
    static void tileAccumulate(int tn, float[] a, int aOff, int aStride, float[] w, int wOff, int wStride, int r,
                               float[] y, int yOff, int yStride, int n) {
        int i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            for (int t = 0; t < tn; t += 4) {
                int y0 = yOff + t * yStride + i, a0 = aOff + t * aStride;
                var c00 = FloatVector.fromArray(F, y, y0);
                var c01 = FloatVector.fromArray(F, y, y0 + L);
                var c10 = FloatVector.fromArray(F, y, y0 + yStride);
                var c11 = FloatVector.fromArray(F, y, y0 + yStride + L);
                var c20 = FloatVector.fromArray(F, y, y0 + 2 * yStride);
                var c21 = FloatVector.fromArray(F, y, y0 + 2 * yStride + L);
                var c30 = FloatVector.fromArray(F, y, y0 + 3 * yStride);
                var c31 = FloatVector.fromArray(F, y, y0 + 3 * yStride + L);
                for (int k = 0; k < r; k++) {
                    int wo = wOff + k * wStride + i;
                    var w0 = FloatVector.fromArray(F, w, wo);
                    var w1 = FloatVector.fromArray(F, w, wo + L);
                    var b0 = FloatVector.broadcast(F, a[a0 + k]);
                    c00 = w0.fma(b0, c00); c01 = w1.fma(b0, c01);
                    var b1 = FloatVector.broadcast(F, a[a0 + aStride + k]);
                    c10 = w0.fma(b1, c10); c11 = w1.fma(b1, c11);
                    var b2 = FloatVector.broadcast(F, a[a0 + 2 * aStride + k]);
                    c20 = w0.fma(b2, c20); c21 = w1.fma(b2, c21);
                    var b3 = FloatVector.broadcast(F, a[a0 + 3 * aStride + k]);
                    c30 = w0.fma(b3, c30); c31 = w1.fma(b3, c31);
                }
                c00.intoArray(y, y0); c01.intoArray(y, y0 + L);
                c10.intoArray(y, y0 + yStride); c11.intoArray(y, y0 + yStride + L);
                c20.intoArray(y, y0 + 2 * yStride); c21.intoArray(y, y0 + 2 * yStride + L);
                c30.intoArray(y, y0 + 3 * yStride); c31.intoArray(y, y0 + 3 * yStride + L);
            }
        }
        for (; i + L <= n; i += L) {
            for (int t = 0; t < tn; t += 4) {
                int y0 = yOff + t * yStride + i, a0 = aOff + t * aStride;
                var c0 = FloatVector.fromArray(F, y, y0);
                var c1 = FloatVector.fromArray(F, y, y0 + yStride);
                var c2 = FloatVector.fromArray(F, y, y0 + 2 * yStride);
                var c3 = FloatVector.fromArray(F, y, y0 + 3 * yStride);
                for (int k = 0; k < r; k++) {
                    var w0 = FloatVector.fromArray(F, w, wOff + k * wStride + i);
                    c0 = w0.fma(FloatVector.broadcast(F, a[a0 + k]), c0);
                    c1 = w0.fma(FloatVector.broadcast(F, a[a0 + aStride + k]), c1);
                    c2 = w0.fma(FloatVector.broadcast(F, a[a0 + 2 * aStride + k]), c2);
                    c3 = w0.fma(FloatVector.broadcast(F, a[a0 + 3 * aStride + k]), c3);
                }
                c0.intoArray(y, y0); c1.intoArray(y, y0 + yStride);
                c2.intoArray(y, y0 + 2 * yStride); c3.intoArray(y, y0 + 3 * yStride);
            }
        }
        for (; i < n; i++) {   // column tail (shorter than a vector): plain dots down the tile
            for (int t = 0; t < tn; t++) {
                int a0 = aOff + t * aStride;
                float s = 0;
                for (int k = 0; k < r; k++) {
                    s += a[a0 + k] * w[wOff + k * wStride + i];
                }
                y[yOff + t * yStride + i] += s;
            }
        }
    }

    /**
     * y[yOff + i] += a0·w[wOff + i] + a1·w[wOff + s + i] + a2·w[wOff + 2s + i] + a3·w[wOff + 3s + i] for i &lt; n:
     * four decoded rows applied to one row of dx with one load and one store of y.
     */
    static void axpy4(float a0, float a1, float a2, float a3, float[] w, int wOff, int s, float[] y, int yOff, int n) {
        var v0 = FloatVector.broadcast(F, a0);
        var v1 = FloatVector.broadcast(F, a1);
        var v2 = FloatVector.broadcast(F, a2);
        var v3 = FloatVector.broadcast(F, a3);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            var acc = FloatVector.fromArray(F, y, yOff + i);
            acc = FloatVector.fromArray(F, w, wOff + i).fma(v0, acc);
            acc = FloatVector.fromArray(F, w, wOff + s + i).fma(v1, acc);
            acc = FloatVector.fromArray(F, w, wOff + 2 * s + i).fma(v2, acc);
            acc = FloatVector.fromArray(F, w, wOff + 3 * s + i).fma(v3, acc);
            acc.intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] += a0 * w[wOff + i] + a1 * w[wOff + s + i] + a2 * w[wOff + 2 * s + i] + a3 * w[wOff + 3 * s + i];
        }
    }
}
