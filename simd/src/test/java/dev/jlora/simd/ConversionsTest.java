package dev.jlora.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jlora.simd.testing.Rand;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Half-precision conversions are exact or correctly rounded, so both implementations must agree bit for bit. */
class ConversionsTest {

    /** All 65,536 fp16 bit patterns, through arrays and through an unaligned segment. */
    @Test
    void f16ToF32IsExactForEveryBitPattern() {
        short[] all = new short[65536];
        for (int i = 0; i < all.length; i++) {
            all[i] = (short) i;
        }
        for (VectorOps ops : KernelTesting.implementations()) {
            float[] out = new float[all.length];
            ops.f16ToF32(all, 0, out, 0, all.length);
            float[] viaSeg = new float[all.length + 1];
            try (var arena = Arena.ofConfined()) {
                MemorySegment seg = arena.allocate(2L * all.length + 1);
                for (int i = 0; i < all.length; i++) {
                    seg.set(ScalarOps.S16_LE, 1 + 2L * i, all[i]);
                }
                ops.f16ToF32(seg, 1, viaSeg, 1, all.length);
            }
            for (int i = 0; i < all.length; i++) {
                // NaN payload and quiet bit depend on whether Float.float16ToFloat ran interpreted or as the
                // vcvtph2ps intrinsic, so a NaN must only stay a NaN with its sign; everything else is bit-exact.
                int want = Float.floatToRawIntBits(Float.float16ToFloat(all[i]));
                assertEquals(canonical(want), canonical(Float.floatToRawIntBits(out[i])),
                        ops.name() + " fp16 0x" + Integer.toHexString(i));
                assertEquals(canonical(want), canonical(Float.floatToRawIntBits(viaSeg[i + 1])),
                        ops.name() + " fp16 (segment) 0x" + Integer.toHexString(i));
            }
        }
    }

    /** Float bits with every NaN replaced by the canonical quiet NaN of its sign. */
    static int canonical(int bits) {
        return (bits & 0x7fffffff) > 0x7f800000 ? (bits & 0x80000000) | 0x7fc00000 : bits;
    }

    @Test
    void bf16ToF32IsExactForEveryBitPattern() {
        short[] all = new short[65536];
        for (int i = 0; i < all.length; i++) {
            all[i] = (short) i;
        }
        for (VectorOps ops : KernelTesting.implementations()) {
            float[] out = new float[all.length];
            ops.bf16ToF32(all, 0, out, 0, all.length);
            float[] viaSeg = new float[all.length];
            try (var arena = Arena.ofConfined()) {
                MemorySegment seg = arena.allocate(2L * all.length + 3);
                for (int i = 0; i < all.length; i++) {
                    seg.set(ScalarOps.S16_LE, 3 + 2L * i, all[i]);
                }
                ops.bf16ToF32(seg, 3, viaSeg, 0, all.length);
            }
            for (int i = 0; i < all.length; i++) {
                assertEquals(i << 16, Float.floatToRawIntBits(out[i]), ops.name() + " bf16 0x" + Integer.toHexString(i));
                assertEquals(i << 16, Float.floatToRawIntBits(viaSeg[i]), ops.name() + " bf16 (segment)");
            }
        }
    }

    /** Boundary floats plus random bit patterns (which include NaNs with payloads and subnormals). */
    static float[] narrowingInputs() {
        var rnd = new SplittableRandom(21);
        float[] special = {0f, -0f, 1f, -1f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE,
                -Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN,
                Float.intBitsToFloat(0x7f800001), Float.intBitsToFloat(0xffc12345),
                65504f, 65519.99f, 65520f, -65520f, 6.1035156e-5f, 5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f,
                Float.intBitsToFloat(0x3f808000), Float.intBitsToFloat(0x3f818000),   // bf16 ties: to even
                Float.intBitsToFloat(0x3f808001), Float.intBitsToFloat(0x7f7fffff)};
        float[] in = new float[special.length + 4099];
        System.arraycopy(special, 0, in, 0, special.length);
        for (int i = special.length; i < in.length; i++) {
            in[i] = i % 2 == 0 ? Float.intBitsToFloat(rnd.nextInt()) : (float) rnd.nextDouble(-70000, 70000);
        }
        return in;
    }

    /** Independent check of round-to-nearest-even for bf16: the nearer of the two neighbours, ties to even. */
    static short bf16Expected(float f) {
        int u = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((u >>> 16) | 0x40);
        }
        int down = u >>> 16, up = down + 1;
        double dd = Math.abs((double) Float.intBitsToFloat(down << 16) - f);
        double du = Math.abs((double) Float.intBitsToFloat(up << 16) - f);
        if (Float.isInfinite(Float.intBitsToFloat(up << 16)) && !Float.isInfinite(f)) {
            // Past MAX: the rounding boundary sits where the next exponent would begin.
            du = Math.abs(Math.scalb(1.0, 128) - Math.abs((double) f));
        }
        int r = dd < du ? down : du < dd ? up : ((down & 1) == 0 ? down : up);
        return (short) r;
    }

    @Test
    void f32ToBf16RoundsToNearestEven() {
        float[] in = narrowingInputs();
        for (VectorOps ops : KernelTesting.implementations()) {
            short[] out = new short[in.length];
            ops.f32ToBf16(in, 0, out, 0, in.length);
            short[] viaSeg = new short[in.length];
            try (var arena = Arena.ofConfined()) {
                MemorySegment seg = arena.allocate(2L * in.length + 1);
                ops.f32ToBf16(in, 0, seg, 1, in.length);
                for (int i = 0; i < in.length; i++) {
                    viaSeg[i] = seg.get(ScalarOps.S16_LE, 1 + 2L * i);
                }
            }
            for (int i = 0; i < in.length; i++) {
                String ctx = ops.name() + " bf16 of " + in[i] + " (0x" + Integer.toHexString(Float.floatToRawIntBits(in[i])) + ")";
                assertEquals(bf16Expected(in[i]), out[i], ctx);
                assertEquals(out[i], viaSeg[i], ctx + " (segment)");
            }
        }
    }

    /** fp16 bits with every NaN replaced by the canonical quiet NaN of its sign (payloads are not specified). */
    static short canonical16(short h) {
        return (h & 0x7fff) > 0x7c00 ? (short) ((h & 0x8000) | 0x7e00) : h;
    }

    @Test
    void f32ToF16MatchesJdkRounding() {
        float[] in = narrowingInputs();
        for (VectorOps ops : KernelTesting.implementations()) {
            short[] out = new short[in.length];
            ops.f32ToF16(in, 0, out, 0, in.length);
            try (var arena = Arena.ofConfined()) {
                MemorySegment seg = arena.allocate(2L * in.length + 1);
                ops.f32ToF16(in, 0, seg, 1, in.length);
                for (int i = 0; i < in.length; i++) {
                    // Float.floatToFloat16 is specified as IEEE 754 round to nearest even.
                    short want = canonical16(Float.floatToFloat16(in[i]));
                    assertEquals(want, canonical16(out[i]), ops.name() + " fp16 of " + in[i]);
                    assertEquals(want, canonical16(seg.get(ScalarOps.S16_LE, 1 + 2L * i)),
                            ops.name() + " fp16 (segment) of " + in[i]);
                }
            }
        }
    }

    @Test
    void loadF32ReadsLittleEndianAtAnyOffset() {
        var rnd = new SplittableRandom(22);
        float[] src = Rand.floats(rnd, 1023);
        for (VectorOps ops : KernelTesting.implementations()) {
            try (var arena = Arena.ofConfined()) {
                MemorySegment seg = arena.allocate(4L * src.length + 5);
                for (int i = 0; i < src.length; i++) {
                    seg.set(ScalarOps.F32_LE, 5 + 4L * i, src[i]);
                }
                float[] dst = new float[src.length + 2];
                ops.loadF32(seg, 5, dst, 2, src.length);
                for (int i = 0; i < src.length; i++) {
                    assertEquals(src[i], dst[i + 2], ops.name() + " [" + i + "]");
                }
            }
        }
    }
}
