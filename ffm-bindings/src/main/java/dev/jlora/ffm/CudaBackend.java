package dev.jlora.ffm;

import dev.jlora.engine.backend.Backend;
import dev.jlora.engine.backend.BackendProvider;
import dev.jlora.engine.backend.Op;

/**
 * {@code --backend cuda}: so far only the probe. The provider loads {@code libcudart} through FFM and asks
 * {@code cudaGetDeviceCount}; it reports itself unavailable with the exact reason (library not found, the
 * runtime's error code, zero devices) and, where a device exists, that the GEMM path is not written yet. No op
 * runs on the GPU: the compute methods throw {@link UnsupportedOperationException} naming what is missing.
 */
public final class CudaBackend implements Backend {
    static final String MISSING = "CUDA compute is not implemented: needs device buffers (cudaMalloc/cudaMemcpy) "
            + "and cublasSgemm/cublasGemmEx from libcublas bound through FFM (docs/BACKENDS.md)";

    private final CudaLib cuda;
    private final int devices;

    CudaBackend(CudaLib cuda, int devices) {
        this.cuda = cuda;
        this.devices = devices;
    }

    @Override public String name() {
        return "cuda";
    }

    @Override public String description() {
        return "CUDA runtime " + cuda.path() + ", " + devices + " device(s); probe only";
    }

    @Override public boolean supports(Op op) {
        return false;
    }

    @Override public void matmulABt(float[] C, float[] A, float[] B, int M, int K, int N) {
        throw new UnsupportedOperationException("matmulABt on cuda: " + MISSING);
    }

    @Override public void matmulAB(float[] C, float[] A, float[] B, int M, int K, int N) {
        throw new UnsupportedOperationException("matmulAB on cuda: " + MISSING);
    }

    @Override public void matmulAtBAccumulate(float[] C, float[] A, float[] B, int M, int K, int N) {
        throw new UnsupportedOperationException("matmulAtBAccumulate on cuda: " + MISSING);
    }

    /** The probe: the outcome of loading libcudart and counting devices, as a reason when unavailable. */
    static BackendProvider.Probe probe(CudaLib.Loaded loaded) {
        if (loaded.lib() == null) {
            return BackendProvider.Probe.unavailable("cuda", loaded.failure());
        }
        int devices;
        try {
            devices = loaded.lib().deviceCount();
        } catch (CudaLib.CudaException e) {
            return BackendProvider.Probe.unavailable("cuda", loaded.lib().path() + " loaded, but " + e.getMessage());
        }
        if (devices == 0) {
            return BackendProvider.Probe.unavailable("cuda", loaded.lib().path()
                    + " loaded, but cudaGetDeviceCount() returned 0 devices");
        }
        // A backend that runs no op would only route everything back to Java: say so instead of pretending.
        return BackendProvider.Probe.unavailable("cuda", devices + " CUDA device(s) found through "
                + loaded.lib().path() + ", but " + MISSING);
    }

    /** {@code --backend cuda}; preferred over everything once it computes. */
    public static final class Provider implements BackendProvider {
        @Override public String name() {
            return "cuda";
        }

        @Override public int preference() {
            return 100;
        }

        @Override public Probe probe() {
            return CudaBackend.probe(CudaLib.load());
        }
    }
}
