package dev.jlora.loaders.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The primitive heap pops in the order of a sort by (priority desc, left asc), the comparator of llama.cpp's bigram queues. */
class BigramQueueTest {
    record Entry(float p, int left, int right, int a, int b) {
    }

    @Test
    void popsInComparatorOrderWithInterleavedAdds() {
        for (long seed = 1; seed <= 20; seed++) {
            SplittableRandom rnd = new SplittableRandom(seed);
            BigramQueue q = new BigramQueue(1);
            List<Entry> pending = new ArrayList<>();
            Comparator<Entry> order = Comparator.comparing((Entry e) -> -e.p).thenComparingInt(e -> e.left);
            int n = 1 + rnd.nextInt(500);
            for (int i = 0; i < n; i++) {
                // few distinct priorities and lefts, so ties are common; left is unique per priority like real symbol indices
                Entry e = new Entry(rnd.nextInt(8) - 4, i, i + 1, rnd.nextInt(), rnd.nextInt());
                q.add(e.p, e.left, e.right, e.a, e.b);
                pending.add(e);
                if (rnd.nextInt(3) == 0) {
                    pollAndCheck(q, pending, order, seed);
                }
            }
            while (!pending.isEmpty()) {
                pollAndCheck(q, pending, order, seed);
            }
            assertTrue(q.isEmpty(), "seed " + seed);
        }
    }

    private static void pollAndCheck(BigramQueue q, List<Entry> pending, Comparator<Entry> order, long seed) {
        pending.sort(order);
        Entry want = pending.removeFirst();
        q.poll();
        assertEquals(want, new Entry(q.priority, q.left, q.right, q.a, q.b), "seed " + seed);
    }
}
