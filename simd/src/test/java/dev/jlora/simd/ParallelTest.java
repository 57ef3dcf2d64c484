package dev.jlora.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ParallelTest {

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3, 7, 64, 1001})
    void everyIndexRunsExactlyOnce(int n) {
        var hits = new AtomicIntegerArray(Math.max(n, 1));
        Parallel.parallelFor(n, hits::incrementAndGet);
        for (int i = 0; i < n; i++) {
            assertEquals(1, hits.get(i), "index " + i + " of n=" + n);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 5, 100, 1000})
    void rangesCoverWithoutOverlapAndRespectMinChunk(int n) {
        var hits = new AtomicIntegerArray(n);
        int minChunk = 7;
        Parallel.parallelForRange(n, minChunk, (from, to) -> {
            assertTrue(from < to && (to - from >= minChunk || to == n), "range [" + from + "," + to + ")");
            for (int i = from; i < to; i++) {
                hits.incrementAndGet(i);
            }
        });
        for (int i = 0; i < n; i++) {
            assertEquals(1, hits.get(i), "index " + i);
        }
    }

    @Test
    void nestedLoopsComplete() {
        var hits = new AtomicIntegerArray(8 * 50);
        Parallel.parallelFor(8, i -> Parallel.parallelFor(50, j -> hits.incrementAndGet(i * 50 + j)));
        for (int i = 0; i < hits.length(); i++) {
            assertEquals(1, hits.get(i), "index " + i);
        }
    }

    @Test
    void concurrentCallersEachCompleteTheirOwnLoop() throws Exception {
        // Two callers at once: one gets the team, the other the fork/join pool; a latch keeps the first loop
        // running until the second caller has started its own.
        int n = 400;
        var first = new AtomicIntegerArray(n);
        var second = new AtomicIntegerArray(n);
        var secondStarted = new java.util.concurrent.CountDownLatch(1);
        var other = new Thread(() -> {
            secondStarted.countDown();
            Parallel.parallelFor(n, second::incrementAndGet);
        });
        Parallel.parallelFor(n, i -> {
            if (i == 0) {
                other.start();
                try {
                    secondStarted.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }
            first.incrementAndGet(i);
        });
        other.join();
        for (int i = 0; i < n; i++) {
            assertEquals(1, first.get(i), "first loop, index " + i);
            assertEquals(1, second.get(i), "second loop, index " + i);
        }
    }

    @Test
    void manyBackToBackLoopsEachRunEveryIndexOnce() {
        // The decode pattern: thousands of small loops in a row, handed to spinning helpers.
        var hits = new AtomicIntegerArray(64);
        for (int round = 0; round < 5000; round++) {
            Parallel.parallelFor(64, hits::incrementAndGet);
        }
        for (int i = 0; i < 64; i++) {
            assertEquals(5000, hits.get(i), "index " + i);
        }
    }

    @Test
    void bodyExceptionReachesCaller() {
        var e = assertThrows(IllegalStateException.class, () -> Parallel.parallelFor(100, i -> {
            if (i == 57) {
                throw new IllegalStateException("boom at " + i);
            }
        }));
        assertTrue(e.getMessage().contains("boom"), e.getMessage());
    }

    @Test
    void workersAreDaemons() {
        assertTrue(Parallel.threads() >= 1);
        var daemon = new AtomicIntegerArray(1);
        Parallel.parallelFor(Parallel.threads() * 8, i -> {
            if (!Thread.currentThread().isDaemon() && Thread.currentThread().getName().startsWith("jlora-parallel")) {
                daemon.incrementAndGet(0);
            }
        });
        assertEquals(0, daemon.get(0), "non-daemon pool threads");
    }
}
