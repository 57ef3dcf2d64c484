package dev.jlora.bench;

import dev.jlora.simd.Parallel;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.OptionalLong;
import java.util.SplittableRandom;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * A STREAM-like read (McCalpin's STREAM, reduced to its read half): sums an off-heap buffer as longs with the Vector
 * API, split over jlora's shared pool like the kernels it is compared with. The time to read N bytes this way is the
 * memory-bandwidth limit of anything that must read the same N bytes once (a matvec reads every weight once; a
 * decode step reads every weight matrix once and one embedding row). A buffer smaller than the last-level cache
 * measures that cache instead: {@link #memoryResidentBytes} gives the size STREAM's rules ask for.
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

    /**
     * Bytes a read must cover to measure main memory rather than a cache: STREAM's rule, four times the last-level
     * caches together (each distinct one counted once, from Linux's sysfs), and at least {@code atLeast}. Without
     * sysfs, 512 MiB.
     */
    static long memoryResidentBytes(long atLeast) {
        return Math.max(atLeast, lastLevelCacheBytes().orElse(128L << 20) * 4);
    }

    /** The last-level caches' total size (each distinct instance once), if sysfs says. */
    static OptionalLong lastLevelCacheBytes() {
        var caches = new HashMap<String, Long>();   // shared_cpu_list → size, of the highest level seen
        int top = 0;
        try (var cpus = Files.newDirectoryStream(Path.of("/sys/devices/system/cpu"), "cpu[0-9]*")) {
            for (var cpu : cpus) {
                var dir = cpu.resolve("cache");
                if (!Files.isDirectory(dir)) {
                    continue;
                }
                try (var indexes = Files.newDirectoryStream(dir, "index[0-9]*")) {
                    for (var index : indexes) {
                        int level = Integer.parseInt(Files.readString(index.resolve("level")).strip());
                        if (level < top) {
                            continue;
                        }
                        if (level > top) {
                            top = level;
                            caches.clear();
                        }
                        caches.put(Files.readString(index.resolve("shared_cpu_list")).strip(),
                                parseSize(Files.readString(index.resolve("size")).strip()));
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            return OptionalLong.empty();
        }
        return caches.isEmpty() ? OptionalLong.empty()
                : OptionalLong.of(caches.values().stream().mapToLong(Long::longValue).sum());
    }

    /** sysfs cache sizes: "32768K", "2M", or plain bytes. */
    static long parseSize(String s) {
        char unit = s.charAt(s.length() - 1);
        long scale = switch (unit) {
            case 'K' -> 1L << 10;
            case 'M' -> 1L << 20;
            case 'G' -> 1L << 30;
            default -> 1;
        };
        return Long.parseLong(scale == 1 ? s : s.substring(0, s.length() - 1)) * scale;
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
