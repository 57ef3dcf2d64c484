package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.ref.F32Matrix;
import dev.jlora.simd.testing.Approx;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Re-parametrised adapters (FLoRA, Bone "bat", MoRA with RoPE compression): forward and backward against the float64
 * references of {@link VariantRefs} (central differences, {@link AdapterCheck}), merge == unmerged forward, state
 * round trip, and each method's defining property on tiny shapes.
 */
class ReparamVariantsTest {
    static final int T = 4;

    static F32Matrix matrix(int rows, int cols, long seed) {
        return new F32Matrix(rows, cols, AdapterCheck.floats(new SplittableRandom(seed), rows * cols, 1));
    }

    /** The adapter's ΔW [OC × IC] as merged into a zero matrix. */
    static double[] delta(TrainableAdapter ad) {
        float[] w = new float[ad.outFeatures() * ad.inFeatures()];
        ad.mergeInto(w);
        return AdapterCheck.doubles(w);
    }

    static float[] toFloats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

    /**
     * Numerical rank of a [m × n] by Gaussian elimination with complete pivoting: pivots below tol·|largest entry|
     * count as zero (a rank-revealing elimination; enough for these few-by-few matrices with fp32 noise ~1e-7).
     */
    static int numericalRank(double[] a, int m, int n, double tol) {
        double[] w = a.clone();
        double max = 0;
        for (double v : w) {
            max = Math.max(max, Math.abs(v));
        }
        int rank = 0;
        boolean[] rowUsed = new boolean[m], colUsed = new boolean[n];
        while (rank < Math.min(m, n)) {
            int pr = -1, pc = -1;
            double best = 0;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    if (!rowUsed[i] && !colUsed[j] && Math.abs(w[i * n + j]) > best) {
                        best = Math.abs(w[i * n + j]);
                        pr = i;
                        pc = j;
                    }
                }
            }
            if (best <= tol * max) {
                break;
            }
            rowUsed[pr] = true;
            colUsed[pc] = true;
            for (int i = 0; i < m; i++) {
                if (!rowUsed[i]) {
                    double f = w[i * n + pc] / w[pr * n + pc];
                    for (int j = 0; j < n; j++) {
                        w[i * n + j] -= f * w[pr * n + j];
                    }
                }
            }
            rank++;
        }
        return rank;
    }

    @Test
    void floraChangeLivesInTheLowRankCoreSpace() {
        int ic = 7, oc = 5, r = 3;
        var flora = new FloraAdapter(ic, oc, r, 0.5f, 0);
        flora.initFactors(new SplittableRandom(1));
        assertEquals(List.of("flora_in", "flora_out", "flora_core"), flora.parameters().stream().map(Parameter::name).toList());
        for (float g : flora.core().value()) {
            assertEquals(0f, g, "G = 0 at step 0 (FLoRALayer.init_parameters)");
        }
        for (double v : delta(flora)) {
            assertEquals(0.0, v, 0.0, "ΔW = 0 at step 0");
        }
        // kaiming_normal_(a=√3) on [n × r]: std 1/√(2r); over the 36 factor entries the sample std is within 40 %.
        double ss = 0;
        int n = 0;
        for (Parameter p : List.of(flora.inFactor(), flora.outFactor())) {
            for (float v : p.value()) {
                ss += v * v;
                n++;
            }
        }
        assertEquals(1 / Math.sqrt(2.0 * r), Math.sqrt(ss / n), 0.4 / Math.sqrt(2.0 * r), "factor std");
        VariantsTest.randomize(flora.core(), new SplittableRandom(2), -1, 1);
        AdapterCheck.gradients(flora, VariantRefs.flora(ic, oc, r, 0.5), T, 3);
        AdapterCheck.mergeMatchesForward(flora, matrix(oc, ic, 4), T, 5);
        AdapterCheck.stateRoundTrip(flora, new FloraAdapter(ic, oc, r, 0.5f, 0), T, 6);
        // Defining property: ΔW is the core G multiplied by a factor along each mode, so its rank is that of the
        // r×r core; with a rank-2 core ΔW has exactly two nonzero singular values (1e-6 relative: fp32 merge).
        float[] g = flora.core().value();
        for (int a = 0; a < r; a++) {
            for (int b = 0; b < r; b++) {
                g[a * r + b] = (float) ((a + 1) * (b == 2 ? 0 : b + 1) + (a == 0 ? 0 : 1) * (b == 1 ? 1 : 0));
            }
        }
        double[] dw = delta(flora);
        Approx.assertClose(VariantRefs.floraDelta(AdapterCheck.tensors(flora), ic, oc, r, 0.5),
                toFloats(dw), 1e-6, 1e-5, () -> "ΔW = s·G ×₁ P_in ×₂ P_out");
        assertEquals(2, numericalRank(dw, oc, ic, 1e-5), "rank(ΔW) = rank(G) = 2");
    }

    @Test
    void boneBatUpdateIsAnAffineFunctionOfTheBaseBlocks() {
        int ic = 6, oc = 4, r = 2;
        F32Matrix w = matrix(oc, ic, 10);
        var bat = new BoneBatAdapter(w, r);
        assertEquals(List.of("bone_block"), bat.parameters().stream().map(Parameter::name).toList());
        assertEquals("bat", bat.config().get("init_weights"));
        for (double v : delta(bat)) {
            assertEquals(0.0, v, 0.0, "b = 0: ΔW = 0 at step 0");
        }
        VariantsTest.randomize(bat.blocks(), new SplittableRandom(11), -1, 1);
        AdapterCheck.gradients(bat, VariantRefs.boneBat(AdapterCheck.doubles(w.w()), ic, oc, r), T, 12);
        AdapterCheck.mergeMatchesForward(bat, w, T, 13);
        AdapterCheck.stateRoundTrip(bat, new BoneBatAdapter(w, r), T, 14);
        // Defining property: the same blocks b on another base W₂ change ΔW by exactly (W₂ − W)_ij·b_i, while the
        // "bone" form's ΔW never depends on W. Reference: float64 loops; fp32 merge, 1e-5 abs.
        F32Matrix w2 = matrix(oc, ic, 15);
        var bat2 = new BoneBatAdapter(w2, r);
        System.arraycopy(bat.blocks().value(), 0, bat2.blocks().value(), 0, bat.blocks().size());
        double[] diff = new double[oc * ic], want = new double[oc * ic];
        double[] d1 = delta(bat), d2 = delta(bat2);
        double[] wd = new double[oc * ic];
        for (int i = 0; i < wd.length; i++) {
            diff[i] = d2[i] - d1[i];
            wd[i] = (double) w2.w()[i] - w.w()[i];
        }
        double[] b = AdapterCheck.doubles(bat.blocks().value());
        double[] withB = VariantRefs.boneBatDelta(wd, b, ic, oc, r), constant = VariantRefs.boneBatDelta(new double[oc * ic], b, ic, oc, r);
        for (int i = 0; i < want.length; i++) {
            want[i] = withB[i] - constant[i];
        }
        Approx.assertClose(want, toFloats(diff), 1e-5, 1e-4, () -> "ΔW(W₂) − ΔW(W) = (W₂ − W)_ij·b_i");
        assertNotEquals(0.0, java.util.Arrays.stream(want).map(Math::abs).max().orElse(0), "the bases differ");
        var e = assertThrows(IllegalArgumentException.class, () -> new BoneBatAdapter(matrix(5, 6, 16), 2));
        assertTrue(e.getMessage().contains("divisible by r"), e.getMessage());
    }

    @Test
    void moraRopeCompressionGivesAnUpdateOfRankAboveTheSquareSize() {
        int ic = 11, oc = 13, r = 1;                      // r̂ = ⌊√24 + ½⌋ = 5 → 4 (even); 3 groups, padding 1
        var rope = new MoraAdapter(ic, oc, r, 0, MoraAdapter.ROTATION);
        assertEquals(4, rope.squareSize(), "type 6 rounds r̂ down to even");
        assertEquals("6", rope.config().get("mora_type"));
        VariantsTest.randomize(rope.matrix(), new SplittableRandom(20), -1, 1);
        AdapterCheck.gradients(rope, VariantRefs.moraRope(ic, oc, 4), T, 21);
        AdapterCheck.mergeMatchesForward(rope, matrix(oc, ic, 22), T, 23);
        AdapterCheck.stateRoundTrip(rope, new MoraAdapter(ic, oc, r, 0, MoraAdapter.ROTATION), T, 24);
        // Defining property (MoRA §3): sharing gives ΔW = D·M·C of rank ≤ r̂; the rotation keeps the groups apart,
        // ΔW = blockdiag(M·R_g) (cut, repeated), whose rank exceeds r̂ with the same M.
        var sharing = new MoraAdapter(ic, oc, 2, 0, MoraAdapter.SHARING);   // r̂ = ⌊√48 + ½⌋ = 7
        VariantsTest.randomize(sharing.matrix(), new SplittableRandom(25), -1, 1);
        assertTrue(numericalRank(delta(sharing), oc, ic, 1e-5) <= sharing.squareSize(), "sharing: rank ≤ r̂");
        int ropeRank = numericalRank(delta(rope), oc, ic, 1e-5);
        assertTrue(ropeRank > rope.squareSize(), "rotation: rank " + ropeRank + " > r̂ = " + rope.squareSize());
        var e = assertThrows(IllegalArgumentException.class, () -> new MoraAdapter(ic, oc, r, 0, 3));
        assertTrue(e.getMessage().contains("mora_type"), e.getMessage());
    }
}
