package dev.jlora.loaders.tokenizer;

import java.util.Arrays;

/** A growable int array, so token output and offsets need no boxing. */
final class IntList {
    private int[] a;
    private int n;

    IntList(int capacity) {
        a = new int[Math.max(4, capacity)];
    }

    void add(int v) {
        if (n == a.length) {
            a = Arrays.copyOf(a, a.length * 2);
        }
        a[n++] = v;
    }

    int size() {
        return n;
    }

    int get(int i) {
        return a[i];
    }


    int[] toArray() {
        return Arrays.copyOf(a, n);
    }
}
