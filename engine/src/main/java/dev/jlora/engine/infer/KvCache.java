package dev.jlora.engine.infer;

import dev.jlora.simd.VectorOps;
import java.util.Arrays;

/**
 * The KV cache of one sequence as a page table (vLLM's block table, Kwon et al. 2023 §4.2): logical position p
 * lives in row p mod P of the sequence's (p / P)-th page, P = {@link KvPagePool#pageSize()}. Pages come from a
 * {@link KvPagePool} one at a time as the sequence grows ({@link #grow}) and go back all at once ({@link #release}).
 * At most {@code contextSize} positions. Not thread-safe (the pool is).
 */
final class KvCache {
    final KvPagePool pool;
    final int contextSize;
    final int kvDim;
    final int pageSize;
    final KvCacheType type;
    private KvPage[] pages = new KvPage[4];
    private int pageCount;

    KvCache(KvPagePool pool, int contextSize) {
        this.pool = pool;
        this.contextSize = contextSize;
        this.kvDim = pool.kvDim();
        this.pageSize = pool.pageSize();
        this.type = pool.type();
    }

    /** Positions the pages held can store. */
    int capacity() {
        return pageCount * pageSize;
    }

    /** Pages held. */
    int pageCount() {
        return pageCount;
    }

    /** The i-th page of the sequence (positions i·P .. i·P + P). */
    KvPage page(int i) {
        return pages[i];
    }

    /** Pages needed to hold {@code positions} positions of pages of {@code pageSize}. */
    static int pagesFor(long positions, int pageSize) {
        return (int) Math.ceilDiv(positions, pageSize);
    }

    /**
     * Takes pages from the pool until {@code positions} positions fit; false (keeping what it got) when the pool has
     * no free page left.
     */
    boolean grow(int positions) {
        if (positions > contextSize) {
            throw new IllegalStateException("context full: " + positions + " positions > context size " + contextSize);
        }
        int need = pagesFor(positions, pageSize);
        while (pageCount < need) {
            KvPage p = pool.allocate();
            if (p == null) {
                return false;
            }
            if (pageCount == pages.length) {
                pages = Arrays.copyOf(pages, 2 * pages.length);
            }
            pages[pageCount++] = p;
        }
        return true;
    }

    /** Gives every page back to the pool; the cache is empty afterwards. */
    void release() {
        for (int i = 0; i < pageCount; i++) {
            pool.free(pages[i]);
            pages[i] = null;
        }
        pageCount = 0;
    }

    /**
     * Stores rows {@code kRow0 ..} of {@code kRows} and {@code vRow0 ..} of {@code vRows} (T rows of kvDim each) at
     * positions {@code p0 .. p0+T} of {@code layer}, across page boundaries. The pages must be there ({@link #grow}).
     * Values are stored as rows, keys transposed (channel c of the page's row r at c·P + r, see {@link KvPage});
     * F16 pages round both to the nearest fp16.
     */
    void write(int layer, int p0, float[] kRows, int kRow0, float[] vRows, int vRow0, int T) {
        int t = 0;
        while (t < T) {
            int p = p0 + t;
            int inPage = p % pageSize;
            int n = Math.min(T - t, pageSize - inPage);
            KvPage page = pages[p / pageSize];
            if (type == KvCacheType.F16) {
                short[] keys = page.keysF16[layer];
                for (int r = 0; r < n; r++) {
                    for (int c = 0, src = (kRow0 + t + r) * kvDim; c < kvDim; c++) {
                        keys[c * pageSize + inPage + r] = Float.floatToFloat16(kRows[src + c]);
                    }
                }
                VectorOps.get().f32ToF16(vRows, (vRow0 + t) * kvDim, page.valuesF16[layer], inPage * kvDim, n * kvDim);
            } else {
                float[] keys = page.keys[layer];
                for (int r = 0; r < n; r++) {
                    for (int c = 0, src = (kRow0 + t + r) * kvDim; c < kvDim; c++) {
                        keys[c * pageSize + inPage + r] = kRows[src + c];
                    }
                }
                System.arraycopy(vRows, (vRow0 + t) * kvDim, page.values[layer], inPage * kvDim, n * kvDim);
            }
            t += n;
        }
    }

    /** Bytes of the pages held. */
    long bytes() {
        return pageCount * pool.pageBytes();
    }

    /** Bytes of a cache for {@code contextSize} positions: keys and values in {@code type}. */
    static long bytesFor(int nLayers, long contextSize, int kvDim, KvCacheType type) {
        return 2L * nLayers * contextSize * kvDim * type.bytes();
    }
}
