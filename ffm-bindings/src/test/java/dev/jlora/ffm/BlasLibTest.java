package dev.jlora.ffm;

import static dev.jlora.simd.testing.Approx.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.jlora.simd.Matmul;
import dev.jlora.simd.testing.Rand;
import java.util.Optional;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** OpenBLAS through FFM against jlora's scalar matmul references. */
@Tag("native")
class BlasLibTest {
    static BlasLib blas;

    @BeforeAll
    static void load() {
        Optional<BlasLib> lib = BlasLib.load();
        if (lib.isEmpty()) {
            String msg = "OpenBLAS (libopenblas.so.0) not found; install libopenblas-dev";
            if (System.getenv("CI") != null) {
                fail(msg + "; under CI it is required");
            }
            assumeTrue(false, msg);
        }
        blas = lib.get();
    }

    static float[] abs(float[] a) {
        float[] r = a.clone();
        for (int i = 0; i < r.length; i++) {
            r[i] = Math.abs(r[i]);
        }
        return r;
    }

    @ParameterizedTest(name = "M={0} K={1} N={2}")
    @CsvSource({"1,1,1", "3,17,5", "33,65,31", "130,257,67"})
    void sgemmMatchesMatmulReferences(int M, int K, int N) {
        var rnd = new SplittableRandom(M * 1000L + K * 10L + N);
        float[] A = Rand.floats(rnd, M * K), B = Rand.floats(rnd, N * K), Bkn = Rand.floats(rnd, K * N);
        float[] want = new float[M * N], bound = new float[M * N], got = new float[M * N];
        // Different summation orders: within 2·K·ulp(1)·Σ|a·b| per element.
        Matmul.matmulABtRef(want, A, B, M, K, N);
        Matmul.matmulABtRef(bound, abs(A), abs(B), M, K, N);
        blas.matmulABt(got, A, B, M, K, N);
        for (int i = 0; i < want.length; i++) {
            int at = i;
            assertClose(want[i], got[i], 2.0 * K * Math.ulp(1f) * bound[i], 0, () -> "ABt [" + at + "]");
        }
        Matmul.matmulABRef(want, A, Bkn, M, K, N);
        Matmul.matmulABRef(bound, abs(A), abs(Bkn), M, K, N);
        blas.sgemm(false, false, M, N, K, 1f, A, K, Bkn, N, 0f, got, N);
        for (int i = 0; i < want.length; i++) {
            int at = i;
            assertClose(want[i], got[i], 2.0 * K * Math.ulp(1f) * bound[i], 0, () -> "AB [" + at + "]");
        }
    }

    @Test
    void threadAndCoreControls() {
        int before = blas.numThreads();
        blas.setNumThreads(1);
        assertEquals(1, blas.numThreads());
        blas.setNumThreads(before);
        assertFalse(blas.coreName().isBlank(), "openblas_get_corename");
        assertFalse(blas.config().isBlank(), "openblas_get_config");
    }

    @Test
    void shapesAreCheckedBeforeTheCall() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> blas.sgemm(false, true, 2, 2, 3, 1f, new float[6], 3, new float[5], 3, 0f, new float[4], 2));
        assertTrue(e.getMessage().contains("B needs 6"), e.getMessage());
    }

    @Test
    void coreTypeFollowsCpuFlags() {
        assertEquals(Optional.of("SkylakeX"), BlasLib.recommendedCoreType("fpu sse avx2 fma avx512f avx512bw"));
        assertEquals(Optional.of("Haswell"), BlasLib.recommendedCoreType("fpu sse avx avx2 fma"));
        assertEquals(Optional.empty(), BlasLib.recommendedCoreType("fpu sse sse2"));
    }

    private static void assertTrue(boolean b, String msg) {
        org.junit.jupiter.api.Assertions.assertTrue(b, msg);
    }
}
