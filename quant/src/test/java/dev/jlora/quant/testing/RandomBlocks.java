package dev.jlora.quant.testing;

import dev.jlora.quant.F16;
import dev.jlora.quant.QuantType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/**
 * Blocks of any {@link QuantType} made of random bytes, with the scale fields replaced by sane fp16/fp32 values
 * (random bytes there would give NaN/inf scales that say nothing about the layout), plus boundary blocks.
 */
public final class RandomBlocks {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Kinds of block content. */
    public enum Kind {
        /** Random payload, random sane scales in ±[1e-3, 2]. */
        RANDOM,
        /** Every byte zero (scales 0). */
        ZERO,
        /** Every payload byte 0xFF (maximum nibbles and high bits), sane scales. */
        MAX_NIBBLES,
        /** Random payload, scales ±65504 (the largest finite fp16). */
        MAX_SCALES
    }

    private RandomBlocks() {}

    /** Byte offsets of the fp16 scale fields of one block (empty for F32/F16/BF16 and Q8_K's fp32 d). */
    public static int[] fp16Fields(QuantType t) {
        return switch (t) {
            case Q4_0, Q5_0, Q8_0 -> new int[] {0};
            case Q4_1, Q5_1, Q4_K, Q5_K -> new int[] {0, 2};
            case Q6_K -> new int[] {208};
            default -> new int[0];
        };
    }

    /** n elements (a multiple of the block size) of type t, every block of the given kind. */
    public static MemorySegment of(QuantType t, SplittableRandom rnd, int n, Kind kind) {
        int blocks = n / t.blockSize();
        byte[] bytes = new byte[(int) t.rowBytes(n)];
        MemorySegment s = MemorySegment.ofArray(bytes);
        for (int b = 0; b < blocks; b++) {
            long off = (long) b * t.bytesPerBlock();
            for (int i = 0; i < t.bytesPerBlock(); i++) {
                bytes[(int) off + i] = switch (kind) {
                    case ZERO -> 0;
                    case MAX_NIBBLES -> (byte) 0xFF;
                    default -> (byte) rnd.nextInt(256);
                };
            }
            if (kind == Kind.ZERO) {
                continue;
            }
            switch (t) {
                case F32 -> s.set(FLOAT, off, scale(rnd, kind) * (float) rnd.nextDouble(-1, 1));
                case F16 -> s.set(SHORT, off, F16.fromFloat(scale(rnd, kind) * (float) rnd.nextDouble(-1, 1)));
                case BF16 -> s.set(SHORT, off, (short) (Float.floatToRawIntBits(scale(rnd, kind) * (float) rnd.nextDouble(-1, 1)) >>> 16));
                case Q8_K -> s.set(FLOAT, off, scale(rnd, kind));
                default -> {
                    for (int f : fp16Fields(t)) {
                        s.set(SHORT, off + f, F16.fromFloat(scale(rnd, kind)));
                    }
                }
            }
        }
        return s;
    }

    private static float scale(SplittableRandom rnd, Kind kind) {
        float sign = rnd.nextBoolean() ? 1 : -1;
        return kind == Kind.MAX_SCALES ? sign * 65504f : sign * (float) rnd.nextDouble(1e-3, 2);
    }
}
