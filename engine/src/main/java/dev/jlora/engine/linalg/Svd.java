package dev.jlora.engine.linalg;

import java.util.Arrays;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * A (possibly truncated) singular value decomposition A ≈ U·diag(s)·Vᵀ of A [m × n], singular values descending.
 *
 * <p>{@link #jacobi} is the one-sided Jacobi method of Hestenes (1958) (Golub and Van Loan, 4th ed., §8.6.3;
 * Demmel and Veselić 1992 for its accuracy): orthogonal plane rotations of the columns until all pairs are
 * orthogonal. Exact to about 1e-14 relative, O(m·n²) per sweep: meant for matrices up to a few hundred columns.
 * {@link #truncated} picks it for small matrices and {@link RandomizedSvd} for large ones.
 *
 * @param u  [m × k], orthonormal columns (a column whose singular value is exactly 0 is left 0)
 * @param s  [k], descending, ≥ 0
 * @param vt [k × n], orthonormal rows
 */
public record Svd(double[] u, double[] s, double[] vt, int m, int n, int k) {

    /** Above this many columns (of the smaller side) {@link #truncated} switches to the randomized method. */
    public static final int EXACT_LIMIT = 192;

    private static final int MAX_SWEEPS = 60;
    /** Squared column norm treated as zero: 2^52 times the smallest normal double, far below any value that matters. */
    private static final double NEGLIGIBLE_NORM2 = Double.MIN_NORMAL * 0x1p52;

    /** The full thin SVD of a [m × n] (not modified): k = min(m, n). */
    public static Svd jacobi(double[] a, int m, int n) {
        Dense.checkShape("SVD", a, m, n);
        if (m < n) {
            // Aᵀ = V·S·Uᵀ: factor the tall transpose and swap the roles.
            Svd t = jacobi(Dense.transpose(a, m, n), n, m);
            return new Svd(Dense.transpose(t.vt, t.k, m), t.s, Dense.transpose(t.u, n, t.k), m, n, t.k);
        }
        // m ≥ n. Columns of A (rows of `w`) are rotated until mutually orthogonal; V accumulates the rotations.
        double[] w = Dense.transpose(a, m, n);
        double[] v = new double[n * n];
        for (int i = 0; i < n; i++) {
            v[i * n + i] = 1;
        }
        // Rotation threshold: off-diagonal Gram entries below m·ε of the column norms are rounding noise.
        double tol = Math.max(m, 16) * 0x1p-52;
        // A column whose norm is rounding noise of the whole matrix (rank-deficient input) is numerically zero:
        // rotating it against another never meets the relative test above, so it is left alone.
        double frob2 = 0;
        for (double x : w) {
            frob2 += x * x;
        }
        double negligible = tol * tol * frob2;
        boolean converged = false;
        for (int sweep = 0; sweep < MAX_SWEEPS && !converged; sweep++) {
            converged = true;
            for (int p = 0; p < n - 1; p++) {
                for (int q = p + 1; q < n; q++) {
                    int po = p * m, qo = q * m;
                    double alpha = 0, beta = 0, gamma = 0;
                    for (int i = 0; i < m; i++) {
                        double x = w[po + i], y = w[qo + i];
                        alpha += x * x;
                        beta += y * y;
                        gamma += x * y;
                    }
                    // A column of a rank-deficient A shrinks towards 0 with every sweep; once its squared norm
                    // nears the subnormal range the Gram entries lose their precision and rotations stop converging.
                    if (gamma == 0 || alpha < NEGLIGIBLE_NORM2 || beta < NEGLIGIBLE_NORM2
                            || Math.min(alpha, beta) <= negligible
                            || Math.abs(gamma) <= tol * Math.sqrt(alpha * beta)) {
                        continue;
                    }
                    converged = false;
                    double zeta = (beta - alpha) / (2 * gamma);
                    double t = Math.signum(zeta) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
                    if (zeta == 0) {
                        t = 1;
                    }
                    double c = 1 / Math.sqrt(1 + t * t), sn = c * t;
                    rotate(w, po, qo, m, c, sn);
                    rotate(v, p * n, q * n, n, c, sn);
                }
            }
        }
        if (!converged) {
            throw new ArithmeticException("Jacobi SVD of a " + m + "×" + n + " matrix did not converge in "
                    + MAX_SWEEPS + " sweeps");
        }
        double[] s = new double[n];
        for (int j = 0; j < n; j++) {
            double ss = 0;
            for (int i = 0; i < m; i++) {
                ss += w[j * m + i] * w[j * m + i];
            }
            s[j] = Math.sqrt(ss);
        }
        int[] order = IntStream.range(0, n).boxed()
                .sorted(Comparator.comparingDouble((Integer j) -> -s[j])).mapToInt(Integer::intValue).toArray();
        double[] u = new double[m * n], vt = new double[n * n], sOut = new double[n];
        for (int jj = 0; jj < n; jj++) {
            int j = order[jj];
            sOut[jj] = s[j];
            double inv = s[j] > 0 ? 1 / s[j] : 0;
            for (int i = 0; i < m; i++) {
                u[i * n + jj] = w[j * m + i] * inv;
            }
            // Row j of `v` holds column j of V (rotations were applied to rows), i.e. row j of Vᵀ.
            System.arraycopy(v, j * n, vt, jj * n, n);
        }
        return new Svd(u, sOut, vt, m, n, n);
    }

    /** Rows p and q of x (each of length len) ← (c·x_p − s·x_q, s·x_p + c·x_q). */
    private static void rotate(double[] x, int po, int qo, int len, double c, double s) {
        for (int i = 0; i < len; i++) {
            double xp = x[po + i], xq = x[qo + i];
            x[po + i] = c * xp - s * xq;
            x[qo + i] = s * xp + c * xq;
        }
    }

    /**
     * The top-r singular triplets of a [m × n]: exact (Jacobi) when min(m, n) ≤ {@link #EXACT_LIMIT}, otherwise
     * randomized with {@link RandomizedSvd#DEFAULT_OVERSAMPLE} oversampling and {@link RandomizedSvd#DEFAULT_POWER_ITERS}
     * power iterations drawn from {@code rnd}.
     */
    public static Svd truncated(double[] a, int m, int n, int r, SplittableRandom rnd) {
        if (r <= 0 || r > Math.min(m, n)) {
            throw new IllegalArgumentException("truncated SVD: rank must be in [1, min(m, n) = " + Math.min(m, n)
                    + "], got " + r);
        }
        if (Math.min(m, n) <= EXACT_LIMIT) {
            return jacobi(a, m, n).truncate(r);
        }
        return RandomizedSvd.decompose(a, m, n, r, RandomizedSvd.DEFAULT_OVERSAMPLE, RandomizedSvd.DEFAULT_POWER_ITERS, rnd);
    }

    /**
     * The thin SVD of the product B·A, B [m × R], A [R × n], without forming it when R is below min(m, n): with thin QRs
     * B = Q₁·R₁ and Aᵀ = Q₂·R₂, B·A = Q₁·(R₁·R₂ᵀ)·Q₂ᵀ, so the SVD U'·S·V'ᵀ of the R × R core gives U = Q₁·U',
     * Vᵀ = V'ᵀ·Q₂ᵀ (Golub and Van Loan, 4th ed., §8.6.1 and §5.4.1 on factored forms). Cost O((m + n)·R²); the
     * result has k = R triplets (k = min(m, n) when the product is formed because R is not smaller).
     */
    public static Svd ofProduct(double[] b, double[] a, int m, int rank, int n) {
        Dense.checkShape("SVD of B·A: B", b, m, rank);
        Dense.checkShape("SVD of B·A: A", a, rank, n);
        if (rank >= Math.min(m, n)) {
            return jacobi(Dense.mul(b, a, m, rank, n), m, n);
        }
        Qr qb = Qr.householder(b, m, rank);
        Qr qa = Qr.householder(Dense.transpose(a, rank, n), n, rank);
        double[] core = Dense.mul(qb.r(), Dense.transpose(qa.r(), rank, rank), rank, rank, rank);
        Svd small = jacobi(core, rank, rank);
        double[] u = Dense.mul(qb.q(), small.u(), m, rank, rank);
        double[] vt = Dense.mul(small.vt(), Dense.transpose(qa.q(), n, rank), rank, rank, n);
        return new Svd(u, small.s(), vt, m, n, rank);
    }

    /** The first r triplets. */
    public Svd truncate(int r) {
        if (r <= 0 || r > k) {
            throw new IllegalArgumentException("truncate: rank must be in [1, " + k + "], got " + r);
        }
        if (r == k) {
            return this;
        }
        double[] u2 = new double[m * r];
        for (int i = 0; i < m; i++) {
            System.arraycopy(u, i * k, u2, i * r, r);
        }
        return new Svd(u2, Arrays.copyOf(s, r), Arrays.copyOf(vt, r * n), m, n, r);
    }

    /** U·diag(s)·Vᵀ as a new [m × n] array. */
    public double[] product() {
        double[] us = new double[m * k];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < k; j++) {
                us[i * k + j] = u[i * k + j] * s[j];
            }
        }
        return Dense.mul(us, vt, m, k, n);
    }
}
