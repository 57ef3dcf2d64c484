package dev.jlora.engine.serve;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.KvPagePool;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The adapters a server may use: every entry (subdirectory or file) of one directory is an adapter named by its file
 * name. Loaded adapters stay resident in an LRU cache bounded by count and bytes (S-LoRA keeps the adapters in host
 * memory the same way); loading happens on the caller's thread (the HTTP handler), never on the scheduler's, and
 * concurrent requests for the same adapter share one load.
 *
 * <p>Names are checked before they touch the file system: letters, digits, '.', '_' and '-' only, no "..", and the
 * real path (symbolic links resolved) must lie inside the directory. Evicting or unloading an adapter only drops the
 * registry's reference: a request that already holds the {@link AdapterSet} keeps using it.
 *
 * <p>With {@link #sharePool} the resident adapters also hold pages of the server's {@link KvPagePool}, the memory
 * KV caches are paged from (S-LoRA's Unified Paging, Sheng et al. 2023 §4.1): a load takes ⌈bytes / page bytes⌉
 * pages, evicting least recently used adapters that no running sequence uses and then waiting for KV pages to be
 * freed if the pool is still full; when the KV caches need pages the pool reclaims them here, again evicting only
 * adapters no running sequence uses ({@link KvPagePool#pinned}). An adapter in use is never evicted, by the pool or
 * by the count and byte bounds, so its pages stay counted while it runs. Not followed: S-LoRA also keeps the
 * adapters of queued requests off the GPU until they run; here an adapter evicted while a queued request holds it
 * stays in that request's memory, uncounted, until the request ends ({@link #unload} likewise).
 */
public final class AdapterRegistry {
    /** Reads an adapter file or directory for the served model. */
    @FunctionalInterface
    public interface Loader {
        Loaded load(Path path) throws IOException;
    }

    /**
     * A loaded adapter, the bytes it holds (for the cache bound) and the linear RoPE scaling its requests run with
     * ({@link ServeRequest#ropeScale}: 1 unless it was trained with LongLoRA's position interpolation).
     */
    public record Loaded(AdapterSet adapters, long bytes, float ropeScale) {
        public Loaded {
            ServeRequest.checkRopeScale(ropeScale);
        }

        /** An adapter trained without RoPE scaling. */
        public Loaded(AdapterSet adapters, long bytes) {
            this(adapters, bytes, 1f);
        }
    }

    /** The name is well formed but no such adapter exists (HTTP 404). */
    public static final class UnknownAdapterException extends RuntimeException {
        public UnknownAdapterException(String name) {
            super("adapter '" + name + "' does not exist");
        }
    }

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._-]{0,127}");

    private final Path dir;
    private final Path realDir;
    private final Loader loader;
    private final int maxResident;
    private final long maxBytes;
    private KvPagePool pool;   // null: bounded by count and bytes only
    private final LinkedHashMap<String, Loaded> resident = new LinkedHashMap<>(16, 0.75f, true);
    private final Map<String, CompletableFuture<Loaded>> loading = new LinkedHashMap<>();
    private long residentBytes;
    private final AtomicLong hits = new AtomicLong();
    private final AtomicLong misses = new AtomicLong();

    /**
     * @param maxResident adapters kept loaded at most (≥ 1)
     * @param maxBytes    bytes of loaded adapters at most; the most recently used one stays even when alone larger
     */
    public AdapterRegistry(Path dir, Loader loader, int maxResident, long maxBytes) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new NoSuchFileException(dir.toString(), null, "the adapters directory does not exist");
        }
        if (maxResident < 1 || maxBytes < 1) {
            throw new IllegalArgumentException("adapter cache bounds must be positive, got " + maxResident + " adapters, "
                    + maxBytes + " bytes");
        }
        this.dir = dir;
        this.realDir = dir.toRealPath();
        this.loader = loader;
        this.maxResident = maxResident;
        this.maxBytes = maxBytes;
    }

    /**
     * The path of adapter {@code name} inside the directory.
     *
     * @throws IllegalArgumentException     a malformed name or one that leads outside the directory
     * @throws UnknownAdapterException      no such entry
     */
    public Path resolve(String name) {
        if (name == null || !NAME.matcher(name).matches() || name.contains("..")) {
            throw new IllegalArgumentException("invalid adapter name '" + name + "': use letters, digits, '.', '_' and "
                    + "'-' (no path separators, no '..')");
        }
        Path p = dir.resolve(name);
        if (!Files.exists(p)) {
            throw new UnknownAdapterException(name);
        }
        try {
            if (!p.toRealPath().startsWith(realDir)) {
                throw new IllegalArgumentException("adapter '" + name + "' leads outside the adapters directory");
            }
        } catch (IOException e) {
            throw new UnknownAdapterException(name);
        }
        return p;
    }

    /** The adapter {@code name}, loading it on this thread on a cache miss. */
    public AdapterSet get(String name) throws IOException {
        return lookup(name).adapters();
    }

    /** The adapter {@code name} with what its requests need beside it, loading it on this thread on a cache miss. */
    public Loaded lookup(String name) throws IOException {
        Path path = resolve(name);
        CompletableFuture<Loaded> pending;
        boolean mine = false;
        synchronized (this) {
            Loaded l = resident.get(name);
            if (l != null) {
                hits.incrementAndGet();
                return l;
            }
            misses.incrementAndGet();
            pending = loading.get(name);
            if (pending == null) {
                pending = new CompletableFuture<>();
                loading.put(name, pending);
                mine = true;
            }
        }
        if (mine) {
            try {
                Loaded l = loader.load(path);
                KvPagePool p = sharedPool();
                if (p != null) {
                    reserve(p, name, l.bytes());
                }
                synchronized (this) {
                    put(name, l);
                    loading.remove(name);
                }
                pending.complete(l);
            } catch (IOException | RuntimeException e) {
                synchronized (this) {
                    loading.remove(name);
                }
                pending.completeExceptionally(e);
                throw e;
            }
        }
        try {
            return pending.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while loading adapter '" + name + "'", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw new IOException("loading adapter '" + name + "' failed: " + e.getCause(), e.getCause());
        }
    }

    /** Drops adapter {@code name} from the cache; false when it was not resident. */
    public synchronized boolean unload(String name) {
        resolveName(name);
        Loaded l = resident.remove(name);
        if (l == null) {
            return false;
        }
        dropped(l);
        return true;
    }

    /**
     * Counts the resident adapters in {@code pool}'s pages from now on and lets the pool evict unused ones when its
     * KV caches need room. Call once, before the first load.
     */
    public synchronized void sharePool(KvPagePool pool) {
        if (this.pool != null || !resident.isEmpty()) {
            throw new IllegalStateException("sharePool must be called once, before any adapter is loaded");
        }
        this.pool = pool;
        pool.setReclaimer(this::reclaim);
    }

    /** Pages of the shared pool held by resident adapters (0 without {@link #sharePool}). */
    public synchronized long residentPages() {
        return pool == null ? 0 : pool.pagesForBytes(residentBytes);
    }

    private synchronized KvPagePool sharedPool() {
        return pool;
    }

    /** Takes the pages of a loaded adapter, outside this registry's lock (the pool may call {@link #reclaim}). */
    private static void reserve(KvPagePool pool, String name, long bytes) throws IOException {
        try {
            pool.reserve(pool.pagesForBytes(bytes));
        } catch (IllegalArgumentException e) {
            throw new IOException("adapter '" + name + "' (" + bytes + " bytes) " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for memory for adapter '" + name + "'", e);
        }
    }

    /**
     * Evicts least recently used adapters that no running sequence uses until {@code pages} pages are freed or none
     * is left to evict; returns the pages freed. The pool's {@link KvPagePool.Reclaimer}.
     */
    private synchronized long reclaim(long pages) {
        long freed = 0;
        Iterator<Map.Entry<String, Loaded>> it = resident.entrySet().iterator();
        while (freed < pages && it.hasNext()) {
            Loaded l = it.next().getValue();
            if (!pool.pinned(l.adapters())) {
                it.remove();
                freed += pool.pagesForBytes(l.bytes());
                dropped(l);
            }
        }
        return freed;
    }

    /** Accounts for {@code l} leaving the cache. */
    private void dropped(Loaded l) {
        residentBytes -= l.bytes();
        if (pool != null) {
            pool.release(pool.pagesForBytes(l.bytes()));
        }
    }

    /** Names of all adapters in the directory (valid names only, sorted). */
    public List<String> available() throws IOException {
        List<String> names = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String n = p.getFileName().toString();
                if (!n.startsWith(".") && NAME.matcher(n).matches() && !n.contains("..")) {
                    names.add(n);
                }
            }
        }
        names.sort(null);
        return names;
    }

    /** Names of the resident adapters, least recently used first. */
    public synchronized List<String> resident() {
        return new ArrayList<>(resident.keySet());
    }

    /** The byte bound of the resident adapters. */
    public long maxBytes() {
        return maxBytes;
    }

    public synchronized long residentBytes() {
        return residentBytes;
    }

    public long hits() {
        return hits.get();
    }

    public long misses() {
        return misses.get();
    }

    private void resolveName(String name) {
        if (name == null || !NAME.matcher(name).matches() || name.contains("..")) {
            throw new IllegalArgumentException("invalid adapter name '" + name + "'");
        }
    }

    private void put(String name, Loaded l) {
        Loaded old = resident.put(name, l);
        if (old != null) {
            dropped(old);
        }
        residentBytes += l.bytes();
        Iterator<Map.Entry<String, Loaded>> it = resident.entrySet().iterator();
        while ((resident.size() > maxResident || residentBytes > maxBytes) && it.hasNext()) {
            Map.Entry<String, Loaded> e = it.next();
            if (e.getKey().equals(name) || (pool != null && pool.pinned(e.getValue().adapters()))) {
                continue;   // the new one stays; one in use stays counted
            }
            it.remove();
            dropped(e.getValue());
        }
    }
}
