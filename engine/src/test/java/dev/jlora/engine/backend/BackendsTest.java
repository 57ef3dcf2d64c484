package dev.jlora.engine.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.Test;

class BackendsTest {

    private static BackendProvider provider(String name, int pref, BackendProvider.Probe probe) {
        return new BackendProvider() {
            @Override public String name() {
                return name;
            }

            @Override public int preference() {
                return pref;
            }

            @Override public BackendProvider.Probe probe() {
                return probe;
            }
        };
    }

    private static BackendProvider throwing(String name) {
        return new BackendProvider() {
            @Override public String name() {
                return name;
            }

            @Override public int preference() {
                return 50;
            }

            @Override public BackendProvider.Probe probe() {
                throw new IllegalStateException("libggml.so exploded");
            }
        };
    }

    @Test
    void autoPicksMostPreferredAvailableAndSaysWhatItSkipped() {
        var counting = new CountingBackend(EnumSet.of(Op.MATMUL_ABT));
        var probes = Backends.discover(List.of(
                provider("openblas", 10, new BackendProvider.Probe("openblas", counting, null)),
                provider("cuda", 100, BackendProvider.Probe.unavailable("cuda", "libcudart.so not found"))));
        assertEquals(List.of("cuda", "openblas", "java"), probes.stream().map(BackendProvider.Probe::name).toList());
        var sel = Backends.select("auto", probes);
        assertSame(counting, ((RoutedBackend) sel.backend()).primary());
        assertTrue(sel.reason().contains("cuda: libcudart.so not found"), sel.reason());
    }

    @Test
    void requestedUnavailableBackendNamesTheReason() {
        var probes = Backends.discover(List.of(
                provider("cuda", 100, BackendProvider.Probe.unavailable("cuda", "libcudart.so not found"))));
        var e = assertThrows(BackendUnavailableException.class, () -> Backends.select("cuda", probes));
        assertEquals("backend 'cuda' is not available: libcudart.so not found", e.getMessage());
        var missing = assertThrows(BackendUnavailableException.class, () -> Backends.select("openblas", probes));
        assertTrue(missing.getMessage().contains("no provider on the class path"), missing.getMessage());
        var unknown = assertThrows(IllegalArgumentException.class, () -> Backends.select("metal", probes));
        assertTrue(unknown.getMessage().contains("[auto, java, openblas, ggml, cuda]"), unknown.getMessage());
    }

    @Test
    void aThrowingProbeBecomesUnavailableWithItsMessage() {
        var probes = Backends.discover(List.of(throwing("ggml")));
        var ggml = probes.get(0);
        assertFalse(ggml.isAvailable());
        assertTrue(ggml.reason().contains("libggml.so exploded"), ggml.reason());
        assertSame(JavaBackend.INSTANCE, probes.get(1).backend());
        assertEquals("java", Backends.select("auto", probes).backend().name());
    }

    @Test
    void unsupportedOpsRouteToJava() {
        var counting = new CountingBackend(EnumSet.of(Op.MATMUL_ABT));
        var probes = Backends.discover(List.of(provider("openblas", 10, new BackendProvider.Probe("openblas", counting, null))));
        Backend b = Backends.select("openblas", probes).backend();
        // 2×3 · (3×2) products, exact in float: small integers.
        float[] A = {1, 2, 3, 4, 5, 6}, B = {1, 0, 0, 1, 1, 1};
        float[] c = new float[4];
        b.matmulABt(c, A, new float[] {1, 0, 1, 0, 1, 1}, 2, 3, 2);
        assertEquals(List.of(4f, 5f, 10f, 11f), List.of(c[0], c[1], c[2], c[3]));
        b.matmulAB(c, A, B, 2, 3, 2);
        assertEquals(List.of(4f, 5f, 10f, 11f), List.of(c[0], c[1], c[2], c[3]));
        assertEquals(1, counting.calls(Op.MATMUL_ABT));
        assertEquals(0, counting.calls(Op.MATMUL_AB), "AB is not supported by the primary: it must run on Java");
    }

    @Test
    void discoveryOnTheClassPathAlwaysHasJava() {
        var probes = Backends.discover();
        assertTrue(probes.stream().anyMatch(p -> p.name().equals("java") && p.isAvailable()),
                () -> Backends.describe(probes).toString());
        assertSame(JavaBackend.INSTANCE, Backends.select("java", probes).backend() instanceof RoutedBackend r
                ? r.primary() : null);
        // --backend java (the default) probes nothing: no native library is loaded for it.
        assertSame(JavaBackend.INSTANCE, Backends.select("java").backend());
        var missing = assertThrows(BackendUnavailableException.class, () -> Backends.select("openblas"));
        assertTrue(missing.getMessage().contains("no provider on the class path"), missing.getMessage());
    }
}
