package dev.jlora.engine.linalg;

/**
 * Solves with small symmetric positive semi-definite n × n matrices (Gram matrices such as AAᵀ and BᵀB of LoRA
 * factors), through their eigen-decomposition M = V·diag(λ)·Vᵀ, which for a PSD matrix is its SVD
 * ({@link Svd#jacobi}: λ = singular values, V = the right singular vectors). Symmetry and semi-definiteness are
 * assumed, not checked.
 */
public final class Psd {
    private Psd() {}

    /** (M + δ·I)⁻¹ = V·diag(1/(λ + δ))·Vᵀ; δ > 0 keeps it defined for a singular M (a regularised pseudo-inverse). */
    public static double[] inverseRegularized(double[] m, int n, double delta) {
        Svd e = Svd.jacobi(m, n, n);
        double[] scaled = new double[n * n];      // diag(1/(λ + δ))·Vᵀ
        for (int i = 0; i < n; i++) {
            double f = 1 / (e.s()[i] + delta);
            for (int j = 0; j < n; j++) {
                scaled[i * n + j] = f * e.vt()[i * n + j];
            }
        }
        return Dense.mul(Dense.transpose(e.vt(), n, n), scaled, n, n, n);
    }

    /**
     * X solving the Sylvester equation P·X + X·Q = C for PSD P, Q (n × n) with λᵢ(P) + μⱼ(Q) &gt; 0 for all i, j:
     * with P = U·Λ·Uᵀ and Q = V·M·Vᵀ, X = U·[(Uᵀ·C·V)ᵢⱼ / (λᵢ + μⱼ)]·Vᵀ (Bartels–Stewart in the symmetric case).
     */
    public static double[] sylvester(double[] p, double[] q, double[] c, int n) {
        Svd ep = Svd.jacobi(p, n, n), eq = Svd.jacobi(q, n, n);
        double[] ut = ep.vt(), vt = eq.vt();
        double[] f = Dense.mul(Dense.mul(ut, c, n, n, n), Dense.transpose(vt, n, n), n, n, n);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double d = ep.s()[i] + eq.s()[j];
                if (!(d > 0)) {
                    throw new ArithmeticException("Sylvester equation is singular: λ" + i + " + μ" + j + " = " + d);
                }
                f[i * n + j] /= d;
            }
        }
        return Dense.mul(Dense.mul(Dense.transpose(ut, n, n), f, n, n, n), vt, n, n, n);
    }
}
