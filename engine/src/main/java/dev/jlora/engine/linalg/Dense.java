package dev.jlora.engine.linalg;

/** The few dense float64 products the factorizations need, on row-major arrays. Plain loops in i-k-j order. */
final class Dense {
    private Dense() {}

    /** c = a·b with a [m×k], b [k×n]; returns a new [m×n] array. */
    static double[] mul(double[] a, double[] b, int m, int k, int n) {
        double[] c = new double[m * n];
        for (int i = 0; i < m; i++) {
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
        return c;
    }

    /** c = aᵀ·b with a [k×m], b [k×n]; returns a new [m×n] array. */
    static double[] mulTn(double[] a, double[] b, int k, int m, int n) {
        double[] c = new double[m * n];
        for (int p = 0; p < k; p++) {
            int bo = p * n;
            for (int i = 0; i < m; i++) {
                double av = a[p * m + i];
                if (av == 0) {
                    continue;
                }
                int co = i * n;
                for (int j = 0; j < n; j++) {
                    c[co + j] += av * b[bo + j];
                }
            }
        }
        return c;
    }

    /** The transpose of a [m×n] as a new [n×m] array. */
    static double[] transpose(double[] a, int m, int n) {
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
