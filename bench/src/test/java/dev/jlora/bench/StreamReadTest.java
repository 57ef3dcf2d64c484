package dev.jlora.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** What {@link StreamRead} reads and how large a read must be to measure main memory (no speed is asserted). */
class StreamReadTest {
    @Test
    void readsEveryWordOnce() {
        // an odd number of vectors and a scalar tail in every chunk; the sum is of the seed's longs, in any order
        long size = 8L * 64 * 37 + 8 * 5;
        long expected = 0;
        var rnd = new SplittableRandom(7);
        for (long i = 0; i < size / 8; i++) {
            expected += rnd.nextLong();
        }
        var read = new StreamRead(size, 7);
        assertEquals(size, read.bytes());
        assertEquals(expected, read.read());
    }

    @Test
    void parsesSysfsCacheSizes() {
        assertEquals(32L << 20, StreamRead.parseSize("32768K"));
        assertEquals(2L << 20, StreamRead.parseSize("2M"));
        assertEquals(1L << 30, StreamRead.parseSize("1G"));
        assertEquals(4096, StreamRead.parseSize("4096"));
    }

    @Test
    void aMemoryReadCoversFourTimesTheLastLevelCache() {
        long llc = StreamRead.lastLevelCacheBytes().orElse(128L << 20);
        assertTrue(llc > 0, "last-level cache " + llc);
        assertEquals(4 * llc, StreamRead.memoryResidentBytes(1));
        assertEquals(16 * llc, StreamRead.memoryResidentBytes(16 * llc), "a larger weight read is kept whole");
    }
}
