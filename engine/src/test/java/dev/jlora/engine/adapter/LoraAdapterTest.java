package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.ref.LoraRef;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class LoraAdapterTest {

    static double[] doubles(SplittableRandom rnd, int n) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) {
            d[i] = rnd.nextDouble() * 2 - 1;
        }
        return d;
    }

    static float[] floats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    /** Same convention as LoraAdapter.forwardTrain: one nextDouble per input element, kept when ≥ p. */
    static boolean[] mask(long seed, int n, double p) {
        var rnd = new SplittableRandom(seed);
        boolean[] keep = new boolean[n];
        for (int i = 0; i < n; i++) {
            keep[i] = rnd.nextDouble() >= p;
        }
        return keep;
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.0, 0.3})
    void referenceBackwardMatchesFiniteDifferences(double p) {
        var sh = new LoraRef.Shape(3, 5, 4, 2, 1.7, p);
        var rnd = new SplittableRandom(7);
        double[] x = doubles(rnd, 15), a = doubles(rnd, 10), b = doubles(rnd, 8), dy = doubles(rnd, 12);
        boolean[] keep = p > 0 ? mask(11, 15, p) : null;
        var g = LoraRef.backward(x, a, b, keep, dy, sh);
        double eps = 1e-6;
        // loss = dy·y is bilinear in each argument, so central differences are exact up to rounding (~1e-10).
        for (double[][] pair : new double[][][] {{a, g.dA()}, {b, g.dB()}, {x, g.dx()}}) {
            double[] v = pair[0], grad = pair[1];
            for (int i = 0; i < v.length; i++) {
                double keepV = v[i];
                v[i] = keepV + eps;
                double up = dot(dy, LoraRef.forward(x, a, b, keep, sh));
                v[i] = keepV - eps;
                double down = dot(dy, LoraRef.forward(x, a, b, keep, sh));
                v[i] = keepV;
                assertEquals((up - down) / (2 * eps), grad[i], 1e-8, "index " + i);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(floats = {0f, 0.25f})
    void floatForwardAndBackwardMatchReference(float p) {
        int T = 5, IC = 13, OC = 7, r = 3;
        var rnd = new SplittableRandom(3);
        var lora = new LoraAdapter(IC, OC, r, 6f, p, false);
        double[] x = doubles(rnd, T * IC), a = doubles(rnd, r * IC), b = doubles(rnd, OC * r), dy = doubles(rnd, T * OC);
        System.arraycopy(floats(a), 0, lora.loraA().value(), 0, a.length);
        System.arraycopy(floats(b), 0, lora.loraB().value(), 0, b.length);
        long seed = 99;
        boolean[] keep = p > 0 ? mask(seed, T * IC, p) : null;
        var sh = new LoraRef.Shape(T, IC, OC, r, 6.0 / 3, p);

        float[] y = new float[T * OC];
        var saved = lora.forwardTrain(floats(x), T, y, seed);
        // fp32 sums of ≤ 13 terms of magnitude ≤ 2·s: a few ulp of ~10 → 1e-5 absolute is ample.
        assertClose(LoraRef.forward(x, a, b, keep, sh), y, 1e-5, "y");

        float[] dx = new float[T * IC];
        lora.backward(floats(x), T, floats(dy), saved, dx);
        var g = LoraRef.backward(x, a, b, keep, dy, sh);
        assertClose(g.dA(), lora.loraA().grad(), 1e-5, "dA");
        assertClose(g.dB(), lora.loraB().grad(), 1e-5, "dB");
        assertClose(g.dx(), dx, 1e-5, "dx");

        // backward accumulates: a second call doubles the gradients
        lora.backward(floats(x), T, floats(dy), saved, dx);
        for (int i = 0; i < g.dA().length; i++) {
            g.dA()[i] *= 2;
        }
        assertClose(g.dA(), lora.loraA().grad(), 2e-5, "dA after two backwards");
    }

    @Test
    void inferenceForwardHasNoDropoutAndEqualsMergedWeight() {
        int T = 4, IC = 9, OC = 6;
        var rnd = new SplittableRandom(5);
        var lora = LoraAdapter.create(IC, OC, new LoraConfig(2, 4f, 0.5f, true, EnumSet.of(Target.Q)), rnd);
        float[] bv = lora.loraB().value();
        for (int i = 0; i < bv.length; i++) {
            bv[i] = (float) (rnd.nextDouble() - 0.5);
        }
        float[] w = floats(doubles(rnd, OC * IC)), x = floats(doubles(rnd, T * IC));
        float[] y = new float[T * OC];
        for (int t = 0; t < T; t++) {
            for (int o = 0; o < OC; o++) {
                for (int i = 0; i < IC; i++) {
                    y[t * OC + o] += x[t * IC + i] * w[o * IC + i];
                }
            }
        }
        lora.forward(x, T, y);
        lora.mergeInto(w);
        float[] merged = new float[T * OC];
        for (int t = 0; t < T; t++) {
            for (int o = 0; o < OC; o++) {
                for (int i = 0; i < IC; i++) {
                    merged[t * OC + o] += x[t * IC + i] * w[o * IC + i];
                }
            }
        }
        // Same products summed in a different order: 1e-5 absolute for values of magnitude ~3.
        for (int i = 0; i < y.length; i++) {
            assertEquals(merged[i], y[i], 1e-5, "y[" + i + "]");
        }
        assertEquals(4 / Math.sqrt(2), lora.scale(), 1e-6, "rsLoRA scale alpha/√r");
    }

    @Test
    void initIsKaimingUniformAndBIsZero() {
        int IC = 400;
        var lora = LoraAdapter.create(IC, 30, new LoraConfig(8, 16f, 0f, false, EnumSet.of(Target.V)), new SplittableRandom(1));
        double bound = 1 / Math.sqrt(IC), sumSq = 0, max = 0;
        for (float v : lora.loraA().value()) {
            max = Math.max(max, Math.abs(v));
            sumSq += v * v;
        }
        assertTrue(max <= bound, "A within ±1/√IC");
        // U(−b, b) has variance b²/3; with 3200 draws the sample variance is within ~5% (≈ 2 standard errors).
        double var = sumSq / lora.loraA().size();
        assertEquals(bound * bound / 3, var, 0.05 * bound * bound / 3, "variance of A");
        for (float v : lora.loraB().value()) {
            assertEquals(0f, v);
        }
        assertEquals(2f, lora.scale());
    }

    @Test
    void loadRestoresSavedValuesAndRejectsWrongShapes() {
        var a1 = LoraAdapter.create(5, 3, new LoraConfig(2, 2f, 0f, false, EnumSet.of(Target.Q)), new SplittableRandom(1));
        var a2 = LoraAdapter.create(5, 3, new LoraConfig(2, 2f, 0f, false, EnumSet.of(Target.Q)), new SplittableRandom(2));
        a1.loraB().value()[4] = 0.5f;
        var state = new HashMap<String, float[]>();
        for (Parameter p : a1.parameters()) {
            state.put(p.name(), p.value());
        }
        a2.load(state);
        assertArrayEquals(a1.loraA().value(), a2.loraA().value());
        assertArrayEquals(a1.loraB().value(), a2.loraB().value());
        state.put("lora_B", new float[5]);
        var e = assertThrows(IllegalArgumentException.class, () -> a2.load(state));
        assertTrue(e.getMessage().contains("lora_B") && e.getMessage().contains("expected 6"), e.getMessage());
    }

    static void assertClose(double[] ref, float[] got, double abs, String what) {
        assertEquals(ref.length, got.length, what + " length");
        for (int i = 0; i < ref.length; i++) {
            assertEquals(ref[i], got[i], abs + 1e-5 * Math.abs(ref[i]), what + "[" + i + "]");
        }
    }
}
