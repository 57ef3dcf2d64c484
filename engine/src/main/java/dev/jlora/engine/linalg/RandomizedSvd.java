package dev.jlora.engine.linalg;

import java.util.SplittableRandom;

/**
 * Randomized truncated SVD, Halko, Martinsson and Tropp, "Finding structure with randomness" (SIAM Review 2011):
 * the range finder with subspace (power) iteration of Algorithm 4.4, re-orthonormalising after every product as
 * that algorithm prescribes, then the direct SVD of the small matrix B = Qᵀ·A (Algorithm 5.1).
 * Cost O(m·n·(r + p)·(2q + 2)); with q power iterations the error bound of their Theorem 10.8 decays like
 * (σ_{r+1}/σ_r)^(2q+1), so spectra with a gap are recovered to near machine precision with q = 2…4.
 * This is also what PEFT's {@code pissa_niter_K} initialisation calls ({@code torch.svd_lowrank}).
 */
public final class RandomizedSvd {
    /** p: extra sample columns beyond r (Halko et al. §4.2 suggest 5 to 10). */
    public static final int DEFAULT_OVERSAMPLE = 10;
    /** q: power iterations. */
    public static final int DEFAULT_POWER_ITERS = 4;

    private RandomizedSvd() {}

    /** The top-r triplets of a [m × n] (not modified), with p oversampling columns and q power iterations. */
    public static Svd decompose(double[] a, int m, int n, int r, int oversample, int powerIters, SplittableRandom rnd) {
        Dense.checkShape("randomized SVD", a, m, n);
        if (r <= 0 || r > Math.min(m, n)) {
            throw new IllegalArgumentException("randomized SVD: rank must be in [1, min(m, n) = " + Math.min(m, n)
                    + "], got " + r);
        }
        if (oversample < 0 || powerIters < 0) {
            throw new IllegalArgumentException("randomized SVD: oversample and power iterations must be ≥ 0, got "
                    + oversample + ", " + powerIters);
        }
        int l = Math.min(r + oversample, Math.min(m, n));
        double[] omega = new double[n * l];
        for (int i = 0; i < omega.length; i++) {
            omega[i] = gaussian(rnd);
        }
        double[] q = Qr.householder(Dense.mul(a, omega, m, n, l), m, l).q();
        for (int it = 0; it < powerIters; it++) {
            double[] qt = Qr.householder(Dense.mulTn(a, q, m, n, l), n, l).q();   // Aᵀ·Q [n × l]
            q = Qr.householder(Dense.mul(a, qt, m, n, l), m, l).q();               // A·Q̃ [m × l]
        }
        double[] b = Dense.mulTn(q, a, m, l, n);                                   // Qᵀ·A [l × n]
        Svd small = Svd.jacobi(b, l, n);
        double[] u = Dense.mul(q, small.u(), m, l, small.k());
        return new Svd(u, small.s(), small.vt(), m, n, small.k()).truncate(r);
    }

    /** A standard normal draw (Box–Muller; the sine half is dropped for simplicity). */
    static double gaussian(SplittableRandom rnd) {
        double u1 = rnd.nextDouble();
        double u2 = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log1p(-u1)) * Math.cos(2 * Math.PI * u2);
    }
}
