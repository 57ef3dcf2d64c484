package dev.jlora.engine.linalg;

/**
 * LDU factorization with partial (row) pivoting of A [m × n]: P·A = L·D·U, i.e. A = Pᵀ·L·D·U, with
 * k = min(m, n), L [m × k] unit lower trapezoidal, D = diag(d) [k], U [k × n] unit upper trapezoidal
 * (Golub and Van Loan, 4th ed., §3.2 and §4.1.1: LU by Gaussian elimination, D split off U's diagonal).
 * A pivot that is exactly zero (rank-deficient A) gives d = 0 and a unit row of U.
 *
 * @param perm row i of P·A is row perm[i] of A
 */
public record Ldu(int[] perm, double[] l, double[] d, double[] u, int m, int n, int k) {

    /** The full factorization, k = min(m, n). */
    public static Ldu decompose(double[] a, int m, int n) {
        return decompose(a, m, n, Math.min(m, n));
    }

    /**
     * The first {@code steps} columns of L, entries of D and rows of U (k = steps), at cost O(m·n·steps): Gaussian
     * elimination's first steps do not depend on the later ones, so LoLDU's rank-r part never pays for the full LU.
     * {@link #perm()} then reflects only the pivots of those steps.
     */
    public static Ldu decompose(double[] a, int m, int n, int steps) {
        Dense.checkShape("LDU", a, m, n);
        if (steps <= 0 || steps > Math.min(m, n)) {
            throw new IllegalArgumentException("LDU: steps must be in [1, min(m, n) = " + Math.min(m, n) + "], got " + steps);
        }
        int k = steps;
        double[] w = a.clone();
        int[] perm = new int[m];
        for (int i = 0; i < m; i++) {
            perm[i] = i;
        }
        for (int j = 0; j < k; j++) {
            int piv = j;
            for (int i = j + 1; i < m; i++) {
                if (Math.abs(w[i * n + j]) > Math.abs(w[piv * n + j])) {
                    piv = i;
                }
            }
            if (piv != j) {
                for (int c = 0; c < n; c++) {
                    double t = w[j * n + c];
                    w[j * n + c] = w[piv * n + c];
                    w[piv * n + c] = t;
                }
                int t = perm[j];
                perm[j] = perm[piv];
                perm[piv] = t;
            }
            double p = w[j * n + j];
            if (p == 0) {
                continue;
            }
            for (int i = j + 1; i < m; i++) {
                double f = w[i * n + j] / p;
                w[i * n + j] = f;
                if (f != 0) {
                    for (int c = j + 1; c < n; c++) {
                        w[i * n + c] -= f * w[j * n + c];
                    }
                }
            }
        }
        double[] l = new double[m * k], d = new double[k], u = new double[k * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < Math.min(i, k); j++) {
                l[i * k + j] = w[i * n + j];
            }
            if (i < k) {
                l[i * k + i] = 1;
            }
        }
        for (int i = 0; i < k; i++) {
            double p = w[i * n + i];
            d[i] = p;
            u[i * n + i] = 1;
            for (int c = i + 1; c < n; c++) {
                u[i * n + c] = p == 0 ? 0 : w[i * n + c] / p;
            }
        }
        return new Ldu(perm, l, d, u, m, n, k);
    }

    /** Pᵀ·L·D·U restricted to the first r columns of L / rows of U, as a new [m × n] array (r = k gives A). */
    public double[] product(int r) {
        if (r <= 0 || r > k) {
            throw new IllegalArgumentException("LDU product: rank must be in [1, " + k + "], got " + r);
        }
        double[] out = new double[m * n];
        for (int i = 0; i < m; i++) {
            int row = perm[i];
            for (int j = 0; j < r; j++) {
                double f = l[i * k + j] * d[j];
                if (f == 0) {
                    continue;
                }
                for (int c = 0; c < n; c++) {
                    out[row * n + c] += f * u[j * n + c];
                }
            }
        }
        return out;
    }
}
