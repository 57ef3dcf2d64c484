package dev.jlora.engine.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * Factorizations checked on matrices with known spectra: A = U·diag(s)·Vᵀ from random orthogonal factors.
 * Tolerances: exact methods are backward stable, so errors are a small multiple of n·ε·‖A‖ (1e-12 relative here
 * for shapes ≤ 40); the randomized SVD is held to the bound its power iterations give on a gapped spectrum.
 */
class LinalgTest {

    static double[] gaussian(SplittableRandom rnd, int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            a[i] = RandomizedSvd.gaussian(rnd);
        }
        return a;
    }

    /** A random m×k matrix with orthonormal columns (Q of a Gaussian matrix; its orthonormality is tested below). */
    static double[] orthonormal(SplittableRandom rnd, int m, int k) {
        return Qr.householder(gaussian(rnd, m * k), m, k).q();
    }

    /** U·diag(s)·Vᵀ with random U [m×k], V [n×k]. */
    static double[] withSpectrum(SplittableRandom rnd, int m, int n, double[] s) {
        int k = s.length;
        double[] u = orthonormal(rnd, m, k), v = orthonormal(rnd, n, k);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < k; j++) {
                u[i * k + j] *= s[j];
            }
        }
        return Dense.mul(u, Dense.transpose(v, n, k), m, k, n);
    }

    static double maxAbs(double[] a) {
        double m = 0;
        for (double v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    static void assertMatrixClose(double[] want, double[] got, double tol, String what) {
        assertEquals(want.length, got.length, what + ": size");
        double scale = Math.max(maxAbs(want), 1e-300);
        for (int i = 0; i < want.length; i++) {
            assertTrue(Math.abs(want[i] - got[i]) <= tol * scale,
                    what + "[" + i + "]: want " + want[i] + " got " + got[i] + " (tol " + tol + "·" + scale + ")");
        }
    }

    /** Columns of q [m×k] orthonormal: QᵀQ = I within tol. */
    static void assertOrthonormalColumns(double[] q, int m, int k, double tol, String what) {
        double[] g = Dense.mulTn(q, q, m, k, k);
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < k; j++) {
                assertEquals(i == j ? 1 : 0, g[i * k + j], tol, what + ": (QᵀQ)[" + i + "," + j + "]");
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"7,5", "5,7", "9,9", "1,4", "4,1", "40,13"})
    void householderQrReconstructsWithOrthonormalQAndTriangularR(int m, int n) {
        var rnd = new SplittableRandom(m * 100 + n);
        double[] a = gaussian(rnd, m * n);
        Qr qr = Qr.householder(a, m, n);
        int k = Math.min(m, n);
        assertEquals(k, qr.k());
        assertOrthonormalColumns(qr.q(), m, k, 1e-13, "Q");
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < Math.min(i, n); j++) {
                assertEquals(0.0, qr.r()[i * n + j], 0.0, "R below the diagonal at " + i + "," + j);
            }
        }
        assertMatrixClose(a, qr.product(), 1e-13, "Q·R");
    }

    @Test
    void qrSignConventionMatchesLapack() {
        // x = (3, 4) is reflected to −sign(3)·5·e₁; the last 1×1 step is the identity (dlarfg, τ = 0).
        // Reference values printed by torch.linalg.qr(torch.tensor([[3., 1], [4, 2]], dtype=torch.float64)).
        Qr qr = Qr.householder(new double[] {3, 1, 4, 2}, 2, 2);
        assertMatrixClose(new double[] {-0.6, -0.8, -0.8, 0.6}, qr.q(), 1e-15, "Q");
        assertMatrixClose(new double[] {-5, -2.2, 0, 0.4}, qr.r(), 1e-15, "R");
    }

    @Test
    void partialQrEqualsTheLeadingPartOfTheFullOne() {
        int m = 12, n = 9, r = 3;
        double[] a = gaussian(new SplittableRandom(3), m * n);
        Qr full = Qr.householder(a, m, n), part = Qr.householder(a, m, n, r);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < r; j++) {
                assertEquals(full.q()[i * n + j], part.q()[i * r + j], 1e-14, "Q[" + i + "," + j + "]");
            }
        }
        for (int i = 0; i < r * n; i++) {
            assertEquals(full.r()[i], part.r()[i], 1e-14, "R[" + i + "]");
        }
    }

    @ParameterizedTest
    @CsvSource({"8,5", "5,8", "30,20", "20,30", "6,6"})
    void jacobiSvdRecoversAKnownSpectrum(int m, int n) {
        var rnd = new SplittableRandom(m * 31 + n);
        int k = Math.min(m, n);
        double[] s = new double[k];
        for (int i = 0; i < k; i++) {
            s[i] = 10 * Math.pow(0.7, i);
        }
        double[] a = withSpectrum(rnd, m, n, s);
        Svd svd = Svd.jacobi(a, m, n);
        for (int i = 0; i < k; i++) {
            assertEquals(s[i], svd.s()[i], 1e-12 * s[0], "σ" + i);
        }
        assertOrthonormalColumns(svd.u(), m, k, 1e-12, "U");
        assertOrthonormalColumns(Dense.transpose(svd.vt(), k, n), n, k, 1e-12, "V");
        assertMatrixClose(a, svd.product(), 1e-12, "U·S·Vᵀ");
    }

    @Test
    void jacobiSvdOfARankDeficientMatrixHasZeroTail() {
        var rnd = new SplittableRandom(5);
        double[] a = withSpectrum(rnd, 10, 7, new double[] {3, 2, 1});
        Svd svd = Svd.jacobi(a, 10, 7);
        assertEquals(3, svd.s()[0], 1e-13);
        assertEquals(1, svd.s()[2], 1e-13);
        for (int i = 3; i < 7; i++) {
            assertEquals(0, svd.s()[i], 1e-13, "σ" + i);
        }
        assertMatrixClose(a, svd.truncate(3).product(), 1e-12, "rank-3 truncation");
    }

    /**
     * A column ~1e-156 in size has a squared norm in the subnormal range, where the Gram entries lose their
     * precision and rotations against it never reach the threshold (a TIES merge of two LoRAs produced such a
     * column while sweeping): the sweeps must still stop, with U·S·Vᵀ = A.
     */
    @Test
    void jacobiSvdConvergesWithAColumnOfSubnormalSquaredNorm() {
        int m = 16, n = 16;
        double[] a = gaussian(new SplittableRandom(17), m * n);
        for (int i = 0; i < m; i++) {
            a[i * n + 9] = 1e-156 * (a[i * n + 9] + a[i * n]);   // tiny and not orthogonal to column 0
        }
        Svd svd = Svd.jacobi(a, m, n);
        assertMatrixClose(a, svd.product(), 1e-12, "U·S·Vᵀ");
    }

    /** The SVD of B·A through the factors equals the SVD of the formed product (reference: Jacobi on B·A). */
    @Test
    void svdOfAProductMatchesTheFormedProduct() {
        int m = 14, n = 11, r = 4;
        var rnd = new SplittableRandom(19);
        double[] b = gaussian(rnd, m * r), a = gaussian(rnd, r * n);
        double[] product = Dense.mul(b, a, m, r, n);
        Svd want = Svd.jacobi(product, m, n);
        Svd got = Svd.ofProduct(b, a, m, r, n);
        assertEquals(r, got.k());
        for (int j = 0; j < r; j++) {
            assertEquals(want.s()[j], got.s()[j], 1e-12 * want.s()[0], "σ" + j);
        }
        assertOrthonormalColumns(got.u(), m, r, 1e-12, "U");
        assertOrthonormalColumns(Dense.transpose(got.vt(), r, n), n, r, 1e-12, "V");
        assertMatrixClose(product, got.product(), 1e-12, "U·S·Vᵀ = B·A");
    }

    @Test
    void randomizedSvdFindsTheTopTripletsOfALargeGappedSpectrum() {
        int m = 260, n = 210, r = 8;
        var rnd = new SplittableRandom(11);
        double[] s = new double[40];
        for (int i = 0; i < s.length; i++) {
            s[i] = i < r ? 100 - 5 * i : 1.0 * Math.pow(0.9, i - r);    // gap σ_r/σ_{r+1} = 65
        }
        double[] a = withSpectrum(rnd, m, n, s);
        assertTrue(Math.min(m, n) > Svd.EXACT_LIMIT, "this shape must take the randomized path");
        Svd svd = Svd.truncated(a, m, n, r, new SplittableRandom(1));
        assertEquals(r, svd.k());
        // (σ_{r+1}/σ_r)^(2q+1) with q = 4 is ~1e-16: the leading values come out to rounding level.
        for (int i = 0; i < r; i++) {
            assertEquals(s[i], svd.s()[i], 1e-9 * s[0], "σ" + i);
        }
        assertOrthonormalColumns(svd.u(), m, r, 1e-12, "U");
        assertOrthonormalColumns(Dense.transpose(svd.vt(), r, n), n, r, 1e-12, "V");
        // Eckart–Young: the best rank-r error in Frobenius norm is √(Σ_{i≥r} σ_i²).
        double[] approx = svd.product();
        double err = 0, best = 0;
        for (int i = 0; i < a.length; i++) {
            err += (a[i] - approx[i]) * (a[i] - approx[i]);
        }
        for (int i = r; i < s.length; i++) {
            best += s[i] * s[i];
        }
        assertEquals(Math.sqrt(best), Math.sqrt(err), 1e-6 * Math.sqrt(best), "rank-r residual (Eckart–Young)");
    }

    @ParameterizedTest
    @CsvSource({"6,4", "4,6", "5,5", "1,3"})
    void lduReconstructsWithUnitTriangularFactors(int m, int n) {
        double[] a = gaussian(new SplittableRandom(m * 7 + n), m * n);
        Ldu f = Ldu.decompose(a, m, n);
        int k = f.k();
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < k; j++) {
                double want = i == j ? 1 : (j > i ? 0 : f.l()[i * k + j]);
                assertEquals(want, f.l()[i * k + j], 0.0, "L[" + i + "," + j + "]");
                assertTrue(Math.abs(f.l()[i * k + j]) <= 1, "partial pivoting keeps |L| ≤ 1");
            }
        }
        for (int i = 0; i < k; i++) {
            for (int j = 0; j <= i && j < n; j++) {
                assertEquals(i == j ? 1 : 0, f.u()[i * n + j], 0.0, "U[" + i + "," + j + "]");
            }
        }
        assertMatrixClose(a, f.product(k), 1e-13, "Pᵀ·L·D·U");
    }

    @Test
    void partialLduGivesTheSameLeadingTermsAsTheFullOne() {
        int m = 9, n = 11, r = 3;
        double[] a = gaussian(new SplittableRandom(21), m * n);
        Ldu full = Ldu.decompose(a, m, n), part = Ldu.decompose(a, m, n, r);
        assertEquals(r, part.k());
        for (int j = 0; j < r; j++) {
            assertEquals(full.d()[j], part.d()[j], 1e-14, "d" + j);
        }
        assertMatrixClose(full.product(r), part.product(r), 1e-14, "Pᵀ·L_r·D_r·U_r");
    }

    @Test
    void badShapesAreRejectedWithTheExpectation() {
        var e = assertThrows(IllegalArgumentException.class, () -> Qr.householder(new double[5], 2, 3));
        assertTrue(e.getMessage().contains("needs 6 values, got 5"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Svd.jacobi(new double[] {1, Double.NaN}, 1, 2));
        assertTrue(e.getMessage().contains("non-finite"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Svd.truncated(new double[6], 2, 3, 3, new SplittableRandom(1)));
        assertTrue(e.getMessage().contains("rank must be in [1, min(m, n) = 2]"), e.getMessage());
    }
}
