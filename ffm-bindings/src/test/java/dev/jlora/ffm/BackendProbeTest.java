package dev.jlora.ffm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.backend.BackendUnavailableException;
import dev.jlora.engine.backend.Backends;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The CUDA and ggml probes: unavailable with the exact reason instead of a crash; CUDA never claims to compute. */
class BackendProbeTest {

    @Test
    void missingRuntimeNamesEveryLibraryTried() {
        var loaded = CudaLib.load(List.of("/nonexistent/libcudart.so.99", "libcudart-not-there.so"));
        var probe = CudaBackend.probe(loaded);
        assertFalse(probe.isAvailable());
        assertTrue(probe.reason().startsWith("CUDA runtime not found; tried /nonexistent/libcudart.so.99 ("),
                probe.reason());
        assertTrue(probe.reason().contains("libcudart-not-there.so ("), probe.reason());
    }

    @Test
    void probeOnThisMachineIsUnavailableWithAReason() {
        // Whatever is installed here (no runtime, a runtime without a driver, a GPU), the backend computes nothing
        // yet, so the probe must say why and --backend cuda must fail with that reason.
        var probe = new CudaBackend.Provider().probe();
        assertFalse(probe.isAvailable());
        System.out.println("cuda probe: " + probe.reason());
        assertTrue(probe.reason().contains("libcudart") || probe.reason().contains("cudaGetDeviceCount")
                || probe.reason().contains(CudaBackend.MISSING), probe.reason());
        var e = assertThrows(BackendUnavailableException.class, () -> Backends.select("cuda"));
        assertEquals("backend 'cuda' is not available: " + Backends.discover().stream()
                .filter(p -> p.name().equals("cuda")).findFirst().orElseThrow().reason(), e.getMessage());
    }

    @Test
    void cudaStatusBecomesAMessageNamingTheCall() {
        var e = new CudaLib.CudaException("cudaGetDeviceCount()", 35, "CUDA driver version is insufficient");
        assertEquals("cudaGetDeviceCount() failed: 35 (CUDA driver version is insufficient)", e.getMessage());
        assertEquals(35, e.status());
    }

    @Test
    void ggmlIsAvailableWithTheNativesOrSaysWhereTheyAreMissing() {
        var probe = new GgmlBackend.Provider().probe();
        if (probe.isAvailable()) {
            // All three forms; their values are checked in BackendConformanceTest. and a 1×1 product, exact:
            float[] c = {7f};
            probe.backend().matmulAtBAccumulate(c, new float[] {2f}, new float[] {3f}, 1, 1, 1);
            assertEquals(13f, c[0], 0f, "7 + 2·3 (accumulates)");
            for (var op : dev.jlora.engine.backend.Op.values()) {
                assertTrue(probe.backend().supports(op), op.toString());
            }
        } else {
            assertTrue(probe.reason().contains("fetch-llama-natives.sh") || probe.reason().contains("did not load"),
                    probe.reason());
            var e = assertThrows(BackendUnavailableException.class, () -> Backends.select("ggml"));
            assertTrue(e.getMessage().contains(probe.reason()), e.getMessage());
        }
    }
}
