package dev.jlora.simd;

import static dev.jlora.simd.testing.Approx.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.jlora.simd.testing.Rand;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** fp32 basics: ScalarOps against a float64 sum, PanamaOps against ScalarOps. */
class BasicKernelsTest {
    static final float ULP1 = Math.ulp(1f);
    static final ScalarOps S = ScalarOps.INSTANCE;
    static VectorOps P;

    @BeforeAll
    static void panama() {
        P = KernelTesting.panamaOrNull();
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 7, 8, 15, 17, 33, 100, 1023, 4099})
    void dotMatchesFloat64AndScalar(int n) {
        var rnd = new SplittableRandom(n);
        int aOff = 3, bOff = 5;
        float[] a = Rand.floats(rnd, n + aOff), b = Rand.floats(rnd, n + bOff);
        double exact = 0, absSum = 0;
        for (int i = 0; i < n; i++) {
            exact += (double) a[aOff + i] * b[bOff + i];
            absSum += Math.abs((double) a[aOff + i] * b[bOff + i]);
        }
        // A float sum of n terms in any order is within n·ulp(1)·Σ|terms| of the exact sum (Higham, ch. 4).
        double bound = n * ULP1 * absSum;
        float want = S.dot(a, aOff, b, bOff, n);
        assertClose(exact, want, bound, 0, () -> "scalar dot n=" + n);
        if (P != null) {
            assertClose(want, P.dot(a, aOff, b, bOff, n), 2 * bound, 0, () -> "panama dot n=" + n);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 7, 8, 15, 17, 33, 100, 1023, 4099})
    void axpyScaleSumMaxMatchScalar(int n) {
        assumeTrue(P != null, KernelTesting.NO_PANAMA);
        var rnd = new SplittableRandom(100 + n);
        float[] x = Rand.floats(rnd, n + 2), y = Rand.floats(rnd, n + 1);
        float[] y1 = y.clone(), y2 = y.clone();
        S.axpy(0.75f, x, 2, y1, 1, n);
        P.axpy(0.75f, x, 2, y2, 1, n);
        // One fused multiply-add against a multiply then add: at most one rounding apart per element.
        assertClose(y1, y2, ULP1 * 2, 2 * ULP1, () -> "axpy n=" + n);

        float[] s1 = x.clone(), s2 = x.clone();
        S.scale(-1.5f, s1, 2, n);
        P.scale(-1.5f, s2, 2, n);
        assertClose(s1, s2, 0, 0, () -> "scale n=" + n);   // one multiply each: identical

        double bound = n * ULP1 * Rand.sumAbs(x, n + 2);
        assertClose(S.sum(x, 2, n), P.sum(x, 2, n), 2 * bound, 0, () -> "sum n=" + n);
        assertEquals(S.max(x, 2, n), P.max(x, 2, n), "max n=" + n);   // max is exact in any order
    }

    @Test
    void maxBoundaries() {
        for (VectorOps ops : KernelTesting.implementations()) {
            float[] neg = new float[37];
            java.util.Arrays.fill(neg, -Float.MAX_VALUE);
            neg[36] = Float.NEGATIVE_INFINITY;
            assertEquals(-Float.MAX_VALUE, ops.max(neg, 0, 37), ops.name());
            neg[20] = Float.NaN;
            assertEquals(Float.NaN, ops.max(neg, 0, 37), ops.name() + ": NaN propagates as Math.max");
            float[] zeros = {-0f, 0f, -0f};
            assertEquals(0f, ops.max(zeros, 0, 3), ops.name());
        }
    }

    @Test
    void dotOfMaxValuesOverflowsToInfinityInBoth() {
        float[] big = new float[100];
        java.util.Arrays.fill(big, Float.MAX_VALUE);
        for (VectorOps ops : KernelTesting.implementations()) {
            assertEquals(Float.POSITIVE_INFINITY, ops.dot(big, big, 100), ops.name());
            assertEquals(0f, ops.dot(new float[100], big, 100), ops.name() + ": zeros·max");
        }
    }
}
