package dev.jlora.engine.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterSet;
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
            return new AdapterRegistry.Loaded(fresh, Files.size(p) * 100);
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
