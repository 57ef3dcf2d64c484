package dev.jlora.ffm;

import dev.jlora.engine.backend.Backend;
import dev.jlora.engine.backend.BackendProvider;
import dev.jlora.engine.backend.Op;
import java.util.Arrays;
import java.util.Optional;

/**
 * The three fp32 training products on OpenBLAS {@code cblas_sgemm} ({@link BlasLib}), row-major, heap arrays passed
 * without a copy (critical downcall). OpenBLAS runs its own thread pool beside jlora's; set {@code
 * OPENBLAS_NUM_THREADS} to share the cores.
 */
public final class OpenBlasBackend implements Backend {
    private final BlasLib blas;

    OpenBlasBackend(BlasLib blas) {
        this.blas = blas;
    }

    @Override public String name() {
        return "openblas";
    }

    @Override public String description() {
        return "OpenBLAS cblas_sgemm from " + blas.path() + ", core " + blas.coreName() + ", " + blas.numThreads()
                + " threads";
    }

    @Override public boolean supports(Op op) {
        return true;
    }

    // BLAS rejects a leading dimension of 0 (xerbla), so empty products are done here: an empty sum is 0.

    @Override public void matmulABt(float[] C, float[] A, float[] B, int M, int K, int N) {
        Backend.checkShapes(Op.MATMUL_ABT, C, A, B, M, K, N);
        if (M == 0 || N == 0) {
            return;
        }
        if (K == 0) {
            Arrays.fill(C, 0, M * N, 0f);
            return;
        }
        blas.sgemm(false, true, M, N, K, 1f, A, K, B, K, 0f, C, N);
    }

    @Override public void matmulAB(float[] C, float[] A, float[] B, int M, int K, int N) {
        Backend.checkShapes(Op.MATMUL_AB, C, A, B, M, K, N);
        if (M == 0 || N == 0) {
            return;
        }
        if (K == 0) {
            Arrays.fill(C, 0, M * N, 0f);
            return;
        }
        blas.sgemm(false, false, M, N, K, 1f, A, K, B, N, 0f, C, N);
    }

    @Override public void matmulAtBAccumulate(float[] C, float[] A, float[] B, int M, int K, int N) {
        Backend.checkShapes(Op.MATMUL_ATB_ACCUMULATE, C, A, B, M, K, N);
        if (M == 0 || K == 0 || N == 0) {
            return;
        }
        // C[K×N] += op(A)[K×M]·B[M×N] with op(A) = Aᵀ, A stored M×K (lda = K).
        blas.sgemm(true, false, K, N, M, 1f, A, K, B, N, 1f, C, N);
    }

    /** {@code --backend openblas}; preferred over Java by {@code auto}. */
    public static final class Provider implements BackendProvider {
        @Override public String name() {
            return "openblas";
        }

        @Override public int preference() {
            return 10;
        }

        @Override public Probe probe() {
            Optional<BlasLib> lib = BlasLib.load();
            return lib.<Probe>map(b -> Probe.available(new OpenBlasBackend(b)))
                    .orElseGet(() -> Probe.unavailable("openblas", "libopenblas.so.0 not found (tried -Djlora.blas.lib, "
                            + String.join(", ", BlasLib.DEFAULT_NAMES) + "; install libopenblas-dev)"));
        }
    }
}
