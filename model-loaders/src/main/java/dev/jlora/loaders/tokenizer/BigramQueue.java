package dev.jlora.loaders.tokenizer;

import java.util.Arrays;

/**
 * Max-priority queue of candidate merges in parallel primitive arrays (no object per entry): highest
 * {@code priority} first, then lowest {@code left} — the order of llama.cpp's {@code llm_bigram_spm/bpe}
 * comparators. Each entry carries two extra ints for the caller's staleness check. After {@link #poll()},
 * the polled entry's fields are in {@link #left}, {@link #right}, {@link #priority}, {@link #a}, {@link #b}.
 */
final class BigramQueue {
    private float[] prio;
    private int[] lefts, rights, as, bs;
    private int size;

    float priority;
    int left, right, a, b;

    BigramQueue(int capacity) {
        int c = Math.max(8, capacity);
        prio = new float[c];
        lefts = new int[c];
        rights = new int[c];
        as = new int[c];
        bs = new int[c];
    }

    boolean isEmpty() {
        return size == 0;
    }


    void add(float p, int l, int r, int x, int y) {
        if (size == prio.length) {
            int c = size * 2;
            prio = Arrays.copyOf(prio, c);
            lefts = Arrays.copyOf(lefts, c);
            rights = Arrays.copyOf(rights, c);
            as = Arrays.copyOf(as, c);
            bs = Arrays.copyOf(bs, c);
        }
        int i = size++;
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (!before(p, l, prio[parent], lefts[parent])) {
                break;
            }
            move(parent, i);
            i = parent;
        }
        set(i, p, l, r, x, y);
    }

    /** Removes the first entry into the public fields. */
    void poll() {
        priority = prio[0];
        left = lefts[0];
        right = rights[0];
        a = as[0];
        b = bs[0];
        int last = --size;
        if (last == 0) {
            return;
        }
        float p = prio[last];
        int l = lefts[last], r = rights[last], x = as[last], y = bs[last];
        int i = 0;
        while (true) {
            int child = 2 * i + 1;
            if (child >= last) {
                break;
            }
            if (child + 1 < last && before(prio[child + 1], lefts[child + 1], prio[child], lefts[child])) {
                child++;
            }
            if (!before(prio[child], lefts[child], p, l)) {
                break;
            }
            move(child, i);
            i = child;
        }
        set(i, p, l, r, x, y);
    }

    private static boolean before(float p1, int l1, float p2, int l2) {
        return p1 > p2 || (p1 == p2 && l1 < l2);
    }

    private void move(int from, int to) {
        prio[to] = prio[from];
        lefts[to] = lefts[from];
        rights[to] = rights[from];
        as[to] = as[from];
        bs[to] = bs[from];
    }

    private void set(int i, float p, int l, int r, int x, int y) {
        prio[i] = p;
        lefts[i] = l;
        rights[i] = r;
        as[i] = x;
        bs[i] = y;
    }
}
