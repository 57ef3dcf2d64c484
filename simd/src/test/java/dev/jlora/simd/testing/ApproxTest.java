package dev.jlora.simd.testing;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ApproxTest {

    @Test
    void boundIsAbsPlusRelTimesReference() {
        assertTrue(Approx.close(100, 100.5, 0.5, 0));
        assertFalse(Approx.close(100, 100.51, 0.5, 0));
        assertTrue(Approx.close(100, 101, 0, 0.01));
        assertFalse(Approx.close(100, 101.01, 0, 0.01));
        assertTrue(Approx.close(-100, -101.5, 0.5, 0.01));
        assertTrue(Approx.close(Double.NaN, Double.NaN, 0, 0));
        assertFalse(Approx.close(1, Double.NaN, 1e9, 1e9));
        assertFalse(Approx.close(Double.POSITIVE_INFINITY, 1e308, 1e308, 1));
    }

    @Test
    void arrayFailureNamesIndexValuesAndSize() {
        float[] ref = {1, 2, 3, 4}, got = {1, 2, 3.5f, 4};
        var e = assertThrows(AssertionError.class, () -> Approx.assertClose(ref, got, 0.1, 0, () -> "ctx"));
        String m = e.getMessage();
        assertTrue(m.contains("ctx") && m.contains("[2] of 4") && m.contains("3.0") && m.contains("3.5"), m);
        assertDoesNotThrow(() -> Approx.assertClose(ref, got, 0.5, 0, () -> "ctx"));
    }

    @Test
    void randIsReproducible() {
        float[] a = Rand.floats(new SplittableRandom(5), 10, -2, 3), b = Rand.floats(new SplittableRandom(5), 10, -2, 3);
        Approx.assertClose(a, b, 0, 0, () -> "same seed, same floats");
        for (float v : a) {
            assertTrue(v >= -2 && v < 3, "in range: " + v);
        }
    }
}
