package dev.jlora.engine.linalg;

import dev.jlora.simd.Parallel;

/**
 * The few dense float64 products the factorizations (and the optimizer-side training methods) need, on row-major
 * arrays. Plain loops in i-k-j order.
 */
public final class Dense {
    private Dense() {}

    /**
     * c = a·b with a [m×k], b [k×n]; returns a new [m×n] array. Rows of c are spread over the shared pool; each element
     * is summed in one fixed order, so the result does not depend on the thread count.
     */
    public static double[] mul(double[] a, double[] b, int m, int k, int n) {
        double[] c = new double[m * n];
        Parallel.parallelForRange(m, grain(k, n), (from, to) -> {
            for (int i = from; i < to; i++) {
                int co = i * n;
                for (int p = 0; p < k; p++) {
                    double av = a[i * k + p];
                    if (av == 0) {
                        continue;
                    }
                    int bo = p * n;
                    for (int j = 0; j < n; j++) {
                        c[co + j] += av * b[bo + j];
                    }
                }
            }
        });
        return c;
    }

    /**
     * c = aᵀ·b with a [k×m], b [k×n]; returns a new [m×n] array. Each task owns a range of c's rows and walks a and b
     * row by row (contiguous reads); every element is summed over p in order, as in {@link #mul}.
     */
    static double[] mulTn(double[] a, double[] b, int k, int m, int n) {
        double[] c = new double[m * n];
        Parallel.parallelForRange(m, grain(k, n), (from, to) -> {
            for (int p = 0; p < k; p++) {
                int ao = p * m, bo = p * n;
                for (int i = from; i < to; i++) {
                    double av = a[ao + i];
                    if (av == 0) {
                        continue;
                    }
                    int co = i * n;
                    for (int j = 0; j < n; j++) {
                        c[co + j] += av * b[bo + j];
                    }
                }
            }
        });
        return c;
    }

    /** Rows per task so that a task does at least ~64k multiply-adds. */
    private static int grain(int k, int n) {
        return Math.max(1, (1 << 16) / Math.max(1, k * n));
    }

    /** The transpose of a [m×n] as a new [n×m] array. */
    public static double[] transpose(double[] a, int m, int n) {
        double[] t = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                t[j * m + i] = a[i * n + j];
            }
        }
        return t;
    }

    static void checkShape(String what, double[] a, int m, int n) {
        if (m <= 0 || n <= 0) {
            throw new IllegalArgumentException(what + ": shape must be positive, got [" + m + " × " + n + "]");
        }
        if ((long) m * n != a.length) {
            throw new IllegalArgumentException(what + ": [" + m + " × " + n + "] needs " + (long) m * n
                    + " values, got " + a.length);
        }
        for (double v : a) {
            if (!Double.isFinite(v)) {
                throw new IllegalArgumentException(what + ": matrix has a non-finite value " + v);
            }
        }
    }
}
