package dev.jlora.bench;

import dev.jlora.simd.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * A STREAM-like read (McCalpin's STREAM, reduced to its read half): sums an off-heap buffer as longs with the Vector
 * API, split over jlora's shared pool like the kernels it is compared with. The time to read N bytes this way is the
 * memory-bandwidth limit of anything that must read the same N bytes once (a matvec reads every weight once; a
 * decode step reads every weight matrix once and one embedding row).
 */
final class StreamRead {
    private static final VectorSpecies<Long> LONGS = LongVector.SPECIES_PREFERRED;
    /** Tasks per read: enough for the pool to balance, few enough that each reads long runs. */
    private static final int CHUNKS = 64;

    private final MemorySegment bytes;

    /** A buffer of {@code size} random bytes (random so no page is a shared zero page). */
    StreamRead(long size, long seed) {
        bytes = Arena.ofAuto().allocate(size, 64);
        var rnd = new SplittableRandom(seed);
        for (long i = 0; i + 8 <= size; i += 8) {
            bytes.set(ValueLayout.JAVA_LONG_UNALIGNED, i, rnd.nextLong());
        }
    }

    long bytes() {
        return bytes.byteSize();
    }

    /** Reads every byte once (the tail of fewer than 8 bytes is skipped); returns the sum so nothing is dead code. */
    long read() {
        long words = bytes.byteSize() / 8;
        long[] partial = new long[CHUNKS];
        Parallel.parallelForRange(CHUNKS, (c0, c1) -> {
            for (int c = c0; c < c1; c++) {
                long from = words * c / CHUNKS * 8, to = words * (c + 1) / CHUNKS * 8;
                var acc0 = LongVector.zero(LONGS);
                var acc1 = LongVector.zero(LONGS);
                long i = from;
                int step = LONGS.vectorByteSize();
                for (; i + 2L * step <= to; i += 2L * step) {
                    acc0 = acc0.add(LongVector.fromMemorySegment(LONGS, bytes, i, ByteOrder.LITTLE_ENDIAN));
                    acc1 = acc1.add(LongVector.fromMemorySegment(LONGS, bytes, i + step, ByteOrder.LITTLE_ENDIAN));
                }
                long s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
                for (; i + 8 <= to; i += 8) {
                    s += bytes.get(ValueLayout.JAVA_LONG_UNALIGNED, i);
                }
                partial[c] = s;
            }
        });
        long s = 0;
        for (long p : partial) {
            s += p;
        }
        return s;
    }
}
