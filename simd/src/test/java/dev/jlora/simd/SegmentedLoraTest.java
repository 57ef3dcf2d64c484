package dev.jlora.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.simd.testing.Rand;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link VectorOps#segmentedLora} against a float64 evaluation of y[t] += s·B·(A·x[t]) on the listed rows, for every
 * implementation on this JVM (so Panama and Scalar are held to the same bound), on sizes that are not multiples of
 * any vector length. Tolerance per element: 2·(IC + r + 2)·ulp(1)·(|y| + |s|·Σ_k |B_ok|·Σ_i |A_ki·x_i|), the
 * float32 summation-order bound of the two dot products. Rows not listed must come back bit for bit.
 */
class SegmentedLoraTest {
    private static final double ULP1 = Math.ulp(1f);

    /** One adapter of rank r and its rows of one batch. */
    private record Segment(float[] a, float[] b, int r, float scale, int[] rows) {}

    static Iterable<VectorOps> implementations() {
        return KernelTesting.implementations();
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void matchesFloat64OnOddShapesWithEmptyAndRepeatedSegments(VectorOps ops) {
        int[][] shapes = {{1, 1, 1}, {7, 5, 3}, {17, 19, 8}, {33, 67, 13}, {100, 64, 16}, {64, 100, 5}};
        for (int[] shape : shapes) {
            int IC = shape[0], OC = shape[1], r = shape[2], rowCount = 9;
            var rnd = new SplittableRandom(1000 + IC * 31 + OC * 7 + r);
            float[] x = Rand.floats(rnd, rowCount * IC), y0 = Rand.floats(rnd, rowCount * OC);
            float[] a1 = Rand.floats(rnd, r * IC), b1 = Rand.floats(rnd, OC * r);
            float[] a2 = Rand.floats(rnd, r * IC), b2 = Rand.floats(rnd, OC * r);
            // Rows 3 and 7 belong to no segment (base-model rows); adapter 1 appears in two segments.
            Segment[] segments = {
                new Segment(a1, b1, r, 2f, new int[] {4, 0, 2}),
                new Segment(a2, b2, r, 0.5f, new int[] {}),
                new Segment(a2, b2, r, -0.75f, new int[] {8, 1}),
                new Segment(a1, b1, r, 2f, new int[] {5, 6}),
            };
            int[] rowList = {4, 0, 2, 8, 1, 5, 6};   // all segments' rows back to back, as a caller would pass them
            float[] y = y0.clone();
            float[] scratch = new float[VectorOps.segmentedLoraScratch(r, OC)];
            int off = 0;
            for (Segment s : segments) {
                ops.segmentedLora(y, x, rowList, off, s.rows().length, IC, OC, s.a(), s.b(), s.r(), s.scale(), scratch);
                off += s.rows().length;
            }
            String ctx = ops.name() + " IC=" + IC + " OC=" + OC + " r=" + r;
            for (int t : new int[] {3, 7}) {
                for (int o = 0; o < OC; o++) {
                    assertEquals(y0[t * OC + o], y[t * OC + o], ctx + ": unlisted row " + t + " changed");
                }
            }
            for (Segment s : segments) {
                for (int t : s.rows()) {
                    checkRow(s, x, y0, y, t, IC, OC, ctx);
                }
            }
        }
    }

    /** Every listed row got exactly one segment's delta, compared with the float64 value and the stated bound. */
    private static void checkRow(Segment s, float[] x, float[] y0, float[] y, int t, int IC, int OC, String ctx) {
        double[] h = new double[s.r()], hAbs = new double[s.r()];
        for (int k = 0; k < s.r(); k++) {
            for (int i = 0; i < IC; i++) {
                double p = (double) s.a()[k * IC + i] * x[t * IC + i];
                h[k] += p;
                hAbs[k] += Math.abs(p);
            }
        }
        for (int o = 0; o < OC; o++) {
            double want = y0[t * OC + o], mag = 0;
            for (int k = 0; k < s.r(); k++) {
                want += s.scale() * s.b()[o * s.r() + k] * h[k];
                mag += Math.abs(s.b()[o * s.r() + k]) * hAbs[k];
            }
            double bound = 2 * (IC + s.r() + 2) * ULP1 * (Math.abs(y0[t * OC + o]) + Math.abs(s.scale()) * mag);
            double got = y[t * OC + o];
            assertTrue(Math.abs(got - want) <= bound,
                    ctx + " row " + t + " out " + o + ": got " + got + ", float64 " + want + ", bound " + bound);
        }
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void rowListedTwiceGetsTheDeltaTwice(VectorOps ops) {
        int IC = 3, OC = 2, r = 1;
        float[] x = {1, 2, 3}, a = {1, 1, 1}, b = {1, -2};
        float[] y = {10, 10};
        float[] scratch = new float[VectorOps.segmentedLoraScratch(r, OC)];
        ops.segmentedLora(y, x, new int[] {0, 0}, 0, 2, IC, OC, a, b, r, 0.5f, scratch);
        // h = 6, delta = 0.5·6·B = {3, -6}, twice: exact in float32.
        assertArrayEquals(new float[] {16, -2}, y);
    }

    @ParameterizedTest
    @CsvSource({"4, 10", "1, 1"})
    void scratchTooSmallNamesTheSize(int r, int OC) {
        for (VectorOps ops : KernelTesting.implementations()) {
            var e = assertThrows(IllegalArgumentException.class, () -> ops.segmentedLora(new float[OC], new float[1],
                    new int[] {0}, 0, 1, 1, OC, new float[r], new float[OC * r], r, 1f,
                    new float[VectorOps.segmentedLoraScratch(r, OC) - 1]));
            assertTrue(e.getMessage().contains("scratch"), e.getMessage());
        }
    }
}
