package dev.jlora.engine.linalg;

/**
 * Thin QR factorization A = Q·R of A [m × n] by Householder reflections (Golub and Van Loan, Matrix Computations,
 * 4th ed., §5.2.2), with k = min(m, n) or fewer steps.
 *
 * <p>Sign convention as LAPACK's {@code geqrf} (and so {@code torch.linalg.qr}, which OLoRA's reference code
 * calls): the reflector maps x to −sign(x₀)·‖x‖·e₁, so diagonal entries of R may be negative.
 *
 * @param q [m × k] with orthonormal columns
 * @param r [k × n] upper trapezoidal
 */
public record Qr(double[] q, double[] r, int m, int n, int k) {

    /** The thin QR of a [m × n] (not modified): Q [m × min(m,n)], R [min(m,n) × n]. */
    public static Qr householder(double[] a, int m, int n) {
        return householder(a, m, n, Math.min(m, n));
    }

    /**
     * The first {@code steps} columns of Q and rows of R of the thin QR of a [m × n], at cost O(m·n·steps):
     * both depend only on the first {@code steps} reflectors, so a rank-r initialisation never pays for the
     * full factorization. Q·R then equals A in its first {@code steps} columns only.
     */
    public static Qr householder(double[] a, int m, int n, int steps) {
        Dense.checkShape("QR", a, m, n);
        if (steps <= 0 || steps > Math.min(m, n)) {
            throw new IllegalArgumentException("QR: steps must be in [1, min(m, n) = " + Math.min(m, n) + "], got " + steps);
        }
        // Work on Aᵀ so that each column of A is a contiguous row.
        double[] at = Dense.transpose(a, m, n);
        double[][] vs = new double[steps][];
        double[] betas = new double[steps];
        for (int j = 0; j < steps; j++) {
            int col = j * m;
            double tail = 0;
            for (int i = j + 1; i < m; i++) {
                tail += at[col + i] * at[col + i];
            }
            double x0 = at[col + j];
            double norm = Math.sqrt(x0 * x0 + tail);
            double[] v = new double[m - j];
            double beta = 0;
            // As LAPACK's dlarfg: no reflection (H = I) when the part below the diagonal is already zero.
            if (tail > 0) {
                double alpha = x0 >= 0 ? -norm : norm;
                for (int i = j; i < m; i++) {
                    v[i - j] = at[col + i];
                }
                v[0] = x0 - alpha;
                double vv = 0;
                for (double e : v) {
                    vv += e * e;
                }
                beta = vv > 0 ? 2 / vv : 0;
            }
            vs[j] = v;
            betas[j] = beta;
            if (beta != 0) {
                for (int c = j; c < n; c++) {
                    int co = c * m;
                    double w = 0;
                    for (int i = j; i < m; i++) {
                        w += v[i - j] * at[co + i];
                    }
                    w *= beta;
                    for (int i = j; i < m; i++) {
                        at[co + i] -= w * v[i - j];
                    }
                }
            }
        }
        double[] r = new double[steps * n];
        for (int i = 0; i < steps; i++) {
            for (int c = i; c < n; c++) {
                r[i * n + c] = at[c * m + i];
            }
        }
        // Q = H₀·H₁·…·H_{steps−1} applied to the first `steps` unit vectors, accumulated backwards; kept transposed.
        double[] qt = new double[steps * m];
        for (int c = 0; c < steps; c++) {
            qt[c * m + c] = 1;
        }
        for (int j = steps - 1; j >= 0; j--) {
            double[] v = vs[j];
            double beta = betas[j];
            if (beta == 0) {
                continue;
            }
            for (int c = 0; c < steps; c++) {
                int co = c * m;
                double w = 0;
                for (int i = j; i < m; i++) {
                    w += v[i - j] * qt[co + i];
                }
                w *= beta;
                for (int i = j; i < m; i++) {
                    qt[co + i] -= w * v[i - j];
                }
            }
        }
        return new Qr(Dense.transpose(qt, steps, m), r, m, n, steps);
    }

    /** Q·R as a new [m × n] array. */
    public double[] product() {
        return Dense.mul(q, r, m, k, n);
    }
}
