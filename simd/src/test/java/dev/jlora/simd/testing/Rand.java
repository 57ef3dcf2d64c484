package dev.jlora.simd.testing;

import java.util.SplittableRandom;

/**
 * Seeded random arrays for tests. Always pass a {@link SplittableRandom} built from a fixed seed, so that a
 * failure reproduces; print the seed in the failure message.
 */
public final class Rand {
    private Rand() {}

    /** {@code n} floats uniform in {@code [lo, hi)}. */
    public static float[] floats(SplittableRandom rnd, int n, float lo, float hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextDouble(lo, hi);
        }
        return a;
    }

    /** {@code n} floats uniform in {@code [-1, 1)}. */
    public static float[] floats(SplittableRandom rnd, int n) {
        return floats(rnd, n, -1f, 1f);
    }

    /** {@code n} doubles uniform in {@code [lo, hi)}. */
    public static double[] doubles(SplittableRandom rnd, int n, double lo, double hi) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            a[i] = rnd.nextDouble(lo, hi);
        }
        return a;
    }

    /** {@code n} doubles uniform in {@code [-1, 1)}. */
    public static double[] doubles(SplittableRandom rnd, int n) {
        return doubles(rnd, n, -1d, 1d);
    }

    /** {@code n} floats from a normal distribution with the given mean and standard deviation. */
    public static float[] gaussians(SplittableRandom rnd, int n, float mean, float std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (mean + std * rnd.nextGaussian());
        }
        return a;
    }

    /** {@code n} ints uniform in {@code [lo, hi)}. */
    public static int[] ints(SplittableRandom rnd, int n, int lo, int hi) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = rnd.nextInt(lo, hi);
        }
        return a;
    }

    /** {@code n} random bytes. */
    public static byte[] bytes(SplittableRandom rnd, int n) {
        byte[] a = new byte[n];
        for (int i = 0; i < n; i++) {
            a[i] = (byte) rnd.nextInt(256);
        }
        return a;
    }

    /** The float array widened to double. */
    public static double[] toDoubles(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    /** The double array rounded to float. */
    public static float[] toFloats(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            f[i] = (float) a[i];
        }
        return f;
    }

    /** Σ |a[i]·b[i]| for i &lt; n in double: the scale of a dot product's rounding error. */
    public static double sumAbsProducts(float[] a, float[] b, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += Math.abs((double) a[i] * b[i]);
        }
        return s;
    }

    /** Σ |a[i]| for i &lt; n in double: the scale of a sum's rounding error. */
    public static double sumAbs(float[] a, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += Math.abs(a[i]);
        }
        return s;
    }
}
