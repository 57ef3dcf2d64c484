package dev.jlora.engine.infer;

import dev.jlora.engine.model.LlamaConfig;
import java.util.ArrayDeque;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Memory for KV caches in fixed-size pages, all from one budget, as in vLLM's PagedAttention (Kwon et al. 2023,
 * "Efficient Memory Management for Large Language Model Serving with PagedAttention", §4.2 KV cache manager): a
 * page holds the keys and values of {@link #pageSize()} positions of one sequence in every layer, a sequence's
 * {@link KvCache} maps its positions to pages, and pages are taken one at a time as it grows, so a sequence holds at
 * most one partly filled page instead of a reservation for its longest possible length.
 *
 * <p>The same budget also counts adapter weights: S-LoRA's Unified Paging (Sheng et al. 2023, "S-LoRA: Serving
 * Thousands of Concurrent LoRA Adapters", §4.1) keeps KV caches and the adapters of the running batch in one memory
 * pool, so that many adapters leave less room for KV caches and vice versa. Here an adapter of B bytes holds
 * ⌈B / {@link #pageBytes()}⌉ pages of the budget ({@link #reserve}/{@link #release}); its weights stay the arrays of
 * its adapter objects (S-LoRA stores them in the pool's pages, read by kernels over non-contiguous memory; ours read
 * the adapters' own arrays), so the pool is their accountant, not their storage. When KV pages run out the pool
 * asks its {@link Reclaimer} (the adapter registry) to evict adapters that no running sequence uses (those not
 * {@link #pinned}); an adapter load that finds no room waits until pages are freed, and while it waits new
 * sequences are not admitted ({@link #available}), so the load is not starved.
 *
 * <p>Page arrays are allocated on first use and recycled; at most {@code totalPages − adapter pages} exist at once.
 * Thread-safe.
 */
public final class KvPagePool {
    /** Positions per page by default (vLLM's default block size). */
    public static final int DEFAULT_PAGE_SIZE = 16;

    /** Frees pages held outside the KV caches (resident adapters) on demand. */
    @FunctionalInterface
    public interface Reclaimer {
        /** Tries to free at least {@code pages} pages through {@link #release}; returns the pages it freed. */
        long reclaim(long pages);
    }

    private final int nLayers, kvDim, pageSize;
    private final KvCacheType type;
    private final long totalPages;
    private final long pageBytes;
    private final ArrayDeque<KvPage> recycled = new ArrayDeque<>();
    private final Map<Object, Integer> pins = new IdentityHashMap<>();
    private long kvPages;         // pages held by KV caches
    private long reservedPages;   // pages held by adapters
    private long waitingDemand;   // pages wanted by reserve calls that wait for room
    private volatile Reclaimer reclaimer;

    /** A pool of fp32 pages. */
    public KvPagePool(LlamaConfig cfg, int pageSize, long totalPages) {
        this(cfg, pageSize, totalPages, KvCacheType.F32);
    }

    /**
     * @param pageSize   positions per page (≥ 1)
     * @param totalPages pages of the budget (≥ 1)
     * @param type       how the pages store keys and values
     */
    public KvPagePool(LlamaConfig cfg, int pageSize, long totalPages, KvCacheType type) {
        if (pageSize < 1 || totalPages < 1) {
            throw new IllegalArgumentException("a KV page pool needs page size ≥ 1 and ≥ 1 page, got page size "
                    + pageSize + " and " + totalPages + " pages");
        }
        if ((long) pageSize * cfg.kvDim() > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a KV page of " + pageSize + " positions × " + cfg.kvDim()
                    + " floats does not fit a Java array; use a smaller page size");
        }
        this.nLayers = cfg.nLayers();
        this.kvDim = cfg.kvDim();
        this.pageSize = pageSize;
        this.type = type;
        this.totalPages = totalPages;
        this.pageBytes = KvCache.bytesFor(nLayers, pageSize, kvDim, type);
    }

    /** A pool of {@link #DEFAULT_PAGE_SIZE} fp32 pages that holds at least {@code positions} positions. */
    public static KvPagePool forPositions(LlamaConfig cfg, long positions) {
        return forPositions(cfg, positions, KvCacheType.F32);
    }

    /** A pool of {@link #DEFAULT_PAGE_SIZE} pages of {@code type} that holds at least {@code positions} positions. */
    public static KvPagePool forPositions(LlamaConfig cfg, long positions, KvCacheType type) {
        return new KvPagePool(cfg, DEFAULT_PAGE_SIZE, KvCache.pagesFor(positions, DEFAULT_PAGE_SIZE), type);
    }

    /** Pages of {@link #DEFAULT_PAGE_SIZE} positions of {@code cfg} in {@code type} that {@code bytes} hold (rounded down). */
    public static long pagesInBytes(LlamaConfig cfg, long bytes, KvCacheType type) {
        return bytes / KvCache.bytesFor(cfg.nLayers(), DEFAULT_PAGE_SIZE, cfg.kvDim(), type);
    }

    /**
     * Pages of a server's pool of {@code type}: {@code kvPositions} positions of KV cache (rounded up to whole pages)
     * plus the pages {@code adapterBytes} of adapters take (rounded down), which KV caches may use while no adapter
     * does.
     */
    public static long poolPages(LlamaConfig cfg, long kvPositions, long adapterBytes, KvCacheType type) {
        return KvCache.pagesFor(kvPositions, DEFAULT_PAGE_SIZE) + pagesInBytes(cfg, adapterBytes, type);
    }

    public int pageSize() {
        return pageSize;
    }

    int kvDim() {
        return kvDim;
    }

    /** How the pages store keys and values. */
    public KvCacheType type() {
        return type;
    }

    int layers() {
        return nLayers;
    }

    /** Bytes of one page: keys and values of {@link #pageSize()} positions in every layer, in {@link #type()}. */
    public long pageBytes() {
        return pageBytes;
    }

    public long totalPages() {
        return totalPages;
    }

    /** Pages that hold {@code positions} positions. */
    public long pagesForPositions(long positions) {
        return KvCache.pagesFor(positions, pageSize);
    }

    /** Pages that hold {@code bytes} bytes (rounded up). */
    public long pagesForBytes(long bytes) {
        return Math.ceilDiv(bytes, pageBytes);
    }

    /** Pages held by KV caches. */
    public synchronized long kvPages() {
        return kvPages;
    }

    /** Pages held by adapters ({@link #reserve}). */
    public synchronized long adapterPages() {
        return reservedPages;
    }

    /** Pages that adapter loads wait for. */
    public synchronized long waitingPages() {
        return waitingDemand;
    }

    /** Pages neither KV caches nor adapters hold. */
    public synchronized long freePages() {
        return totalPages - kvPages - reservedPages;
    }

    public void setReclaimer(Reclaimer r) {
        this.reclaimer = r;
    }

    /** One page for a KV cache, or null when the budget has none left even after reclaiming adapters. */
    KvPage allocate() {
        KvPage p = tryAllocate();
        if (p == null && reclaim(1)) {
            p = tryAllocate();
        }
        return p;
    }

    private synchronized KvPage tryAllocate() {
        if (totalPages - kvPages - reservedPages < 1) {
            return null;
        }
        kvPages++;
        KvPage p = recycled.pollFirst();
        return p != null ? p : new KvPage(nLayers, pageSize, kvDim, type);
    }

    synchronized void free(KvPage p) {
        kvPages--;
        if (recycled.size() < totalPages - kvPages - reservedPages) {
            recycled.addFirst(p);
        }
        notifyAll();
    }

    /**
     * True when {@code pages} pages are free for new sequences (after reclaiming unused adapters if needed), not
     * counting pages that waiting adapter loads are owed. Nothing is taken: the caller allocates next, on the same
     * thread.
     */
    public boolean available(long pages) {
        long missing;
        synchronized (this) {
            missing = pages - (totalPages - kvPages - reservedPages - waitingDemand);
        }
        if (missing <= 0) {
            return true;
        }
        reclaim(missing);
        synchronized (this) {
            return pages <= totalPages - kvPages - reservedPages - waitingDemand;
        }
    }

    /**
     * Takes {@code pages} pages for adapter weights, reclaiming unused adapters and then waiting for KV pages to be
     * freed if the budget is full.
     *
     * @throws IllegalArgumentException more pages than the whole pool
     */
    public void reserve(long pages) throws InterruptedException {
        if (pages > totalPages) {
            throw new IllegalArgumentException("needs " + pages + " pages of " + pageBytes + " bytes but the whole "
                    + "memory pool has " + totalPages);
        }
        synchronized (this) {
            waitingDemand += pages;
        }
        try {
            while (true) {
                long missing;
                synchronized (this) {
                    missing = pages - (totalPages - kvPages - reservedPages);
                    if (missing <= 0) {
                        reservedPages += pages;
                        while (recycled.size() > totalPages - kvPages - reservedPages) {
                            recycled.pollLast();   // the budget shrank: let the collector have the arrays
                        }
                        return;
                    }
                }
                if (!reclaim(missing)) {
                    synchronized (this) {
                        if (pages > totalPages - kvPages - reservedPages) {
                            wait();
                        }
                    }
                }
            }
        } finally {
            synchronized (this) {
                waitingDemand -= pages;
            }
        }
    }

    /** Gives back {@code pages} pages taken by {@link #reserve}. */
    public synchronized void release(long pages) {
        if (pages > reservedPages) {
            throw new IllegalStateException("releasing " + pages + " adapter pages but only " + reservedPages
                    + " are reserved");
        }
        reservedPages -= pages;
        notifyAll();
    }

    /** Marks {@code holder} (an adapter object) as used by a running sequence: the reclaimer must not evict it. */
    public synchronized void pin(Object holder) {
        pins.merge(holder, 1, Integer::sum);
    }

    /** Undoes one {@link #pin}. */
    public synchronized void unpin(Object holder) {
        Integer n = pins.get(holder);
        if (n == null) {
            throw new IllegalStateException("unpin of an object that is not pinned");
        }
        if (n == 1) {
            pins.remove(holder);
            notifyAll();   // it may be reclaimed now, for a waiting reserve
        } else {
            pins.put(holder, n - 1);
        }
    }

    public synchronized boolean pinned(Object holder) {
        return pins.containsKey(holder);
    }

    /** Asks the reclaimer for pages; called without this pool's lock (the reclaimer takes its own, then ours). */
    private boolean reclaim(long pages) {
        Reclaimer r = reclaimer;
        return r != null && r.reclaim(pages) > 0;
    }

    @Override
    public synchronized String toString() {
        return String.format(java.util.Locale.ROOT, "%,d pages of %d positions (%,d bytes each): %,d KV, %,d adapters, %,d free",
                totalPages, pageSize, pageBytes, kvPages, reservedPages, totalPages - kvPages - reservedPages);
    }
}
