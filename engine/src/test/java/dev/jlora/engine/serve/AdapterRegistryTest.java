package dev.jlora.engine.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.infer.KvPagePool;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AdapterRegistryTest {
    @TempDir
    Path tmp;

    final List<Path> loads = new ArrayList<>();

    long bytesPerFileByte = 100;

    AdapterRegistry registry(int maxResident, long maxBytes) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("adapters"));
        for (String n : List.of("a", "b.gguf", "c")) {
            Files.writeString(dir.resolve(n), n);
        }
        return new AdapterRegistry(dir, p -> {
            loads.add(p);
            AdapterSet fresh = new AdapterSet() {   // a distinct object per load
                @Override public dev.jlora.engine.adapter.LinearAdapter get(int layer, dev.jlora.engine.adapter.Target t) {
                    return null;
                }
            };
            return new AdapterRegistry.Loaded(fresh, Files.size(p) * bytesPerFileByte);
        }, maxResident, maxBytes);
    }

    @Test
    void lruKeepsAtMostTheCountAndCountsHitsAndMisses() throws Exception {
        var r = registry(2, 1 << 20);
        assertEquals(List.of("a", "b.gguf", "c"), r.available());
        AdapterSet a = r.get("a");
        assertSame(a, r.get("a"));
        r.get("b.gguf");
        r.get("a");                       // a is now the most recent
        r.get("c");                       // evicts b.gguf
        assertEquals(List.of("a", "c"), r.resident());
        assertEquals(2, r.hits());
        assertEquals(3, r.misses());
        assertEquals(3, loads.size());
        assertEquals(100 + 100, r.residentBytes());
    }

    @Test
    void byteBoundEvictsAndUnloadKeepsObjectsInUse() throws Exception {
        var r = registry(10, 650);        // "b.gguf" is 600 bytes by the fake loader, "a" and "c" 100
        AdapterSet a = r.get("a");
        r.get("b.gguf");
        assertEquals(List.of("b.gguf"), r.resident());
        r.get("c");
        assertEquals(List.of("c"), r.resident());
        assertTrue(r.unload("c"));
        assertFalse(r.unload("c"));
        AdapterSet again = r.get("a");
        assertNotSame(a, again, "reloaded after eviction; the old object stays valid for whoever holds it");
    }

    /**
     * S-LoRA's Unified Paging: adapters and KV caches share one pool. Loading adapters leaves fewer pages for KV;
     * KV growth evicts least recently used adapters that no running sequence uses, never one in use; an adapter load
     * that finds the pool full of KV pages waits until they are freed.
     */
    @Test
    void adaptersAndKvCachesShareOnePool() throws Exception {
        var model = SchedulerTest.MODEL;   // a page of 16 positions is 2 layers × 2 × 16 × kvDim 8 × 4 = 2,048 bytes
        var pool = new KvPagePool(model.config(), 16, 6);
        assertEquals(2048, pool.pageBytes());
        bytesPerFileByte = 1000;           // "a", "c": 1,000 bytes = 1 page; "b.gguf": 6,000 bytes = 3 pages
        var r = registry(10, 1 << 20);
        r.sharePool(pool);
        AdapterSet a = r.get("a");
        AdapterSet b = r.get("b.gguf");
        assertEquals(4, pool.adapterPages());
        assertEquals(2, pool.freePages(), "loading adapters shrinks the free KV pages");
        pool.pin(b);                       // a running sequence uses b
        var kv = new InferenceSession(model, AdapterSet.NONE, 64, 16, pool);
        assertTrue(kv.reserve(32));        // 2 free pages
        assertTrue(kv.reserve(48));        // a third page: evicts a, the least recently used adapter not in use
        assertEquals(List.of("b.gguf"), r.resident());
        assertFalse(kv.reserve(64), "b is in use: not evicted, so no fourth page");
        assertEquals(List.of("b.gguf"), r.resident());
        assertEquals(3, pool.kvPages());

        kv.releaseCache();
        assertEquals(3, pool.freePages());
        AdapterSet c = r.get("c");
        pool.pin(c);
        assertEquals(2, pool.freePages(), "and vice versa: KV has one page less");
        assertTrue(kv.reserve(32));        // the pool is full now: 2 KV pages, 4 adapter pages in use
        var loaded = new java.util.concurrent.CompletableFuture<AdapterSet>();
        Thread loader = Thread.ofVirtual().start(() -> {
            try {
                loaded.complete(r.get("a"));
            } catch (Exception e) {
                loaded.completeExceptionally(e);
            }
        });
        while (pool.waitingPages() == 0 && !loaded.isDone()) {   // the load found no page and waits (state, not time)
            Thread.onSpinWait();
        }
        assertFalse(pool.available(1), "new KV caches are not admitted while an adapter load waits");
        assertFalse(loaded.isDone());
        kv.releaseCache();                   // the running sequence ends
        AdapterSet again = loaded.get(30, java.util.concurrent.TimeUnit.SECONDS);
        loader.join();
        assertNotSame(a, again);
        assertEquals(List.of("b.gguf", "c", "a"), r.resident(), "nothing in use was evicted");
        assertEquals(5, pool.adapterPages());
        pool.unpin(b);
        pool.unpin(c);
    }

    @Test
    void namesThatLeaveTheDirectoryAreRejected() throws Exception {
        var r = registry(2, 1 << 20);
        Path outside = Files.writeString(tmp.resolve("secret"), "x");
        Files.createSymbolicLink(tmp.resolve("adapters").resolve("evil"), outside);
        for (String bad : List.of("../secret", "..", "a/b", "/etc/passwd", ".hidden", "", "a\\b")) {
            var e = assertThrows(IllegalArgumentException.class, () -> r.get(bad), bad);
            assertTrue(e.getMessage().startsWith("invalid adapter name"), e.getMessage());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> r.get("evil"));
        assertTrue(e.getMessage().contains("outside the adapters directory"), e.getMessage());
        assertThrows(AdapterRegistry.UnknownAdapterException.class, () -> r.get("nope"));
        assertTrue(loads.isEmpty(), "nothing was read: " + loads);
    }
}
