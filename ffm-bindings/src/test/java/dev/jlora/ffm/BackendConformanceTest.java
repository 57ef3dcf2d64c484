package dev.jlora.ffm;

import static dev.jlora.simd.testing.Approx.assertClose;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.jlora.engine.backend.Backend;
import dev.jlora.engine.backend.BackendProvider;
import dev.jlora.engine.backend.Backends;
import dev.jlora.engine.backend.Op;
import dev.jlora.simd.Matmul;
import dev.jlora.simd.testing.Rand;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;

/**
 * Every op of every backend discovered on this machine (ServiceLoader, as {@code --backend} sees them) against the
 * naive {@code Matmul.*Ref} triple loops, on odd shapes with tails and empty dimensions. Unavailable backends and
 * unsupported ops are reported as skipped with their reason (and listed at the end); under CI, OpenBLAS and ggml
 * must be there (.ci/run installs OpenBLAS and fetches the llama.cpp libraries); CUDA needs a GPU.
 */
@Tag("native")
class BackendConformanceTest {
    /** {M, K, N}: vectors, odd sizes around SIMD widths and blocking tails, empty dimensions. */
    static final int[][] SHAPES = {{1, 1, 1}, {1, 67, 5}, {3, 17, 5}, {5, 1, 9}, {33, 65, 31}, {70, 129, 66},
            {0, 4, 3}, {4, 0, 3}, {4, 3, 0}};
    /**
     * fp32 results of different summation orders (blocked SIMD, BLAS kernels) against the k-ordered reference.
     * With |a|,|b| ≤ 1 and K ≤ 129 the typical rounding error is about √K·ε·Σ|a·b| ≈ 1e-5 at most (ε = 6e-8).
     */
    static final double ABS = 2e-5, REL = 1e-4;

    static final List<String> SKIPPED = new ArrayList<>();

    @TestFactory
    Stream<DynamicTest> everyOpOfEveryBackend() {
        List<DynamicTest> tests = new ArrayList<>();
        for (BackendProvider.Probe p : Backends.discover()) {
            if (!p.isAvailable()) {
                tests.add(DynamicTest.dynamicTest(p.name() + " (unavailable)", () -> {
                    String why = p.name() + ": unavailable: " + p.reason();
                    // .ci/run installs OpenBLAS and fetches the llama.cpp libraries: only CUDA may be missing there.
                    if (!p.name().equals("cuda") && System.getenv("CI") != null) {
                        fail(why + "; under CI every backend but cuda is required");
                    }
                    SKIPPED.add(why);
                    Assumptions.abort(why);
                }));
                continue;
            }
            Backend b = p.backend();
            for (Op op : Op.values()) {
                tests.add(DynamicTest.dynamicTest(b.name() + " " + op, () -> {
                    if (!b.supports(op)) {
                        String why = b.name() + " " + op + ": not supported (routed to java)";
                        SKIPPED.add(why);
                        Assumptions.abort(why);
                    }
                    for (int[] s : SHAPES) {
                        check(b, op, s[0], s[1], s[2]);
                    }
                }));
            }
        }
        return tests.stream();
    }

    static void check(Backend b, Op op, int M, int K, int N) {
        long seed = 1_000_000L * M + 1000L * K + N;
        var rnd = new SplittableRandom(seed);
        float[] A = Rand.floats(rnd, M * K);
        float[] B = Rand.floats(rnd, op == Op.MATMUL_ATB_ACCUMULATE ? M * N : K * N);
        int cLen = op == Op.MATMUL_ATB_ACCUMULATE ? K * N : M * N;
        float[] C0 = Rand.floats(rnd, cLen);    // garbage for overwrite forms, the accumulator for AᵀB
        float[] ref = C0.clone(), got = C0.clone();
        switch (op) {
            case MATMUL_ABT -> {
                Matmul.matmulABtRef(ref, A, B, M, K, N);
                b.matmulABt(got, A, B, M, K, N);
            }
            case MATMUL_AB -> {
                Matmul.matmulABRef(ref, A, B, M, K, N);
                b.matmulAB(got, A, B, M, K, N);
            }
            case MATMUL_ATB_ACCUMULATE -> {
                Matmul.matmulAtBAccumulateRef(ref, A, B, M, K, N);
                b.matmulAtBAccumulate(got, A, B, M, K, N);
            }
        }
        assertClose(ref, got, ABS, REL, () -> String.format("%s %s M=%d K=%d N=%d seed %d (reference Matmul.*Ref)",
                b.name(), op, M, K, N, seed));
    }

    @TestFactory
    Stream<DynamicTest> badShapesAreRejectedBeforeNativeCode() {
        return Backends.discover().stream().filter(BackendProvider.Probe::isAvailable).map(p -> DynamicTest
                .dynamicTest(p.name() + " short B", () -> {
                    var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                            () -> p.backend().matmulABt(new float[6], new float[6], new float[5], 2, 3, 2));
                    assertTrue(e.getMessage().contains("B"), e.getMessage());
                }));
    }

    @AfterAll
    static void listSkipped() {
        System.out.println("backend conformance: skipped " + (SKIPPED.isEmpty() ? "nothing" : String.join("; ", SKIPPED)));
    }
}
