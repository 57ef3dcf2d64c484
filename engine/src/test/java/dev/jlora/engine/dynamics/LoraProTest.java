package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.linalg.Dense;
import dev.jlora.engine.linalg.Psd;
import dev.jlora.engine.ref.TinyTraining;
import java.io.IOException;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoraProTest {
    static final int R = 3, IC = 7, OC = 5;
    static final double S = 2;

    @TempDir
    Path dir;

    static double[] random(SplittableRandom rnd, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = rnd.nextDouble() * 2 - 1;
        }
        return v;
    }

    /** s·B·zA + s·zB·A for z = (zA [r×IC], zB [OC×r]) stacked. */
    static double[] apply(double[] a, double[] b, double[] z) {
        double[] zA = java.util.Arrays.copyOfRange(z, 0, R * IC), zB = java.util.Arrays.copyOfRange(z, R * IC, z.length);
        return LoraPro.equivalentGradient(a, b, zA, zB, R, IC, OC, S);
    }

    /** The adjoint: (s·Bᵀ·m, s·m·Aᵀ) stacked. */
    static double[] adjoint(double[] a, double[] b, double[] m) {
        double[] gA = Dense.mul(Dense.transpose(b, OC, R), m, R, OC, IC);
        double[] gB = Dense.mul(m, Dense.transpose(a, R, IC), OC, IC, R);
        double[] z = new double[gA.length + gB.length];
        for (int i = 0; i < gA.length; i++) {
            z[i] = S * gA[i];
        }
        for (int i = 0; i < gB.length; i++) {
            z[gA.length + i] = S * gB[i];
        }
        return z;
    }

    /**
     * The float64 least-squares projection of g onto {s·B·zA + s·zB·A}: conjugate gradients on the normal equations
     * JᵀJ·z = Jᵀ·g (the fitted value J·z is unique even though z is not).
     */
    static double[] leastSquares(double[] a, double[] b, double[] g) {
        int n = R * IC + OC * R;
        double[] z = new double[n], r = adjoint(a, b, g), p = r.clone();
        double rr = dot(r, r);
        for (int it = 0; it < 4 * n && rr > 1e-30; it++) {
            double[] q = adjoint(a, b, apply(a, b, p));
            double alpha = rr / dot(p, q);
            for (int i = 0; i < n; i++) {
                z[i] += alpha * p[i];
                r[i] -= alpha * q[i];
            }
            double next = dot(r, r);
            for (int i = 0; i < n; i++) {
                p[i] = r[i] + next / rr * p[i];
            }
            rr = next;
        }
        return apply(a, b, z);
    }

    static double dot(double[] x, double[] y) {
        double s = 0;
        for (int i = 0; i < x.length; i++) {
            s += x[i] * y[i];
        }
        return s;
    }

    static double distance2(double[] x, double[] y) {
        double s = 0;
        for (int i = 0; i < x.length; i++) {
            s += (x[i] - y[i]) * (x[i] - y[i]);
        }
        return s;
    }

    /**
     * Theorem 2.1: from g_A = s·Bᵀ·g and g_B = s·g·Aᵀ alone, the adjusted gradients' equivalent gradient is the
     * best approximation of the full g, i.e. the float64 least-squares solution; for X = 0 and the Sylvester X alike.
     */
    @Test
    void equivalentGradientIsTheLeastSquaresApproximationOfTheFullGradient() {
        var rnd = new SplittableRandom(3);
        double[] a = random(rnd, R * IC), b = random(rnd, OC * R), g = random(rnd, OC * IC);
        double[] z = adjoint(a, b, g);
        double[] gA = java.util.Arrays.copyOfRange(z, 0, R * IC), gB = java.util.Arrays.copyOfRange(z, R * IC, z.length);
        double[] want = leastSquares(a, b, g);
        for (boolean sylvester : new boolean[] {false, true}) {
            double[][] adj = LoraPro.closedForm(a, b, gA, gB, R, IC, OC, S, false, sylvester);
            double[] got = LoraPro.equivalentGradient(a, b, adj[0], adj[1], R, IC, OC, S);
            // both float64; δ = 1e-8 regularisation of the r×r inverses perturbs at ~1e-8 relative
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], got[i], 1e-6, "sylvester=" + sylvester + " [" + i + "]");
            }
        }
        double plain = distance2(LoraPro.equivalentGradient(a, b, gA, gB, R, IC, OC, S), g);
        assertTrue(distance2(want, g) < plain, "the adjusted step approximates g better than plain LoRA's");
    }

    /**
     * Theorem 2.2: among the solutions (g_A* + X·A, g_B* − B·X), the Sylvester X is the one closest to the original
     * (g_A, g_B); moving X in any direction increases that distance.
     */
    @Test
    void sylvesterXKeepsTheAdjustedGradientsClosestToLoras() {
        var rnd = new SplittableRandom(5);
        // LoRA's gradients of some full gradient g (the theorem's setting: g_A·Aᵀ = Bᵀ·g_B = s·Bᵀ·g·Aᵀ)
        double[] a = random(rnd, R * IC), b = random(rnd, OC * R), z = adjoint(a, b, random(rnd, OC * IC));
        double[] gA = java.util.Arrays.copyOfRange(z, 0, R * IC), gB = java.util.Arrays.copyOfRange(z, R * IC, z.length);
        double[][] best = LoraPro.closedForm(a, b, gA, gB, R, IC, OC, S, false, true);
        double bestDist = distance2(best[0], gA) + distance2(best[1], gB);
        for (int trial = 0; trial < 10; trial++) {
            double[] y = random(rnd, R * R);
            double[] ya = Dense.mul(y, a, R, R, IC), by = Dense.mul(b, y, OC, R, R);
            double[] pa = best[0].clone(), pb = best[1].clone();
            for (int i = 0; i < pa.length; i++) {
                pa[i] += 1e-3 * ya[i];
            }
            for (int i = 0; i < pb.length; i++) {
                pb[i] -= 1e-3 * by[i];
            }
            assertTrue(distance2(pa, gA) + distance2(pb, gB) > bestDist, "trial " + trial);
        }
        // the equation itself: BᵀB·X + X·AAᵀ = C, residual at float64 rounding
        double[] p = Dense.mul(Dense.transpose(b, OC, R), b, R, OC, R);
        double[] q = Dense.mul(a, Dense.transpose(a, R, IC), R, IC, R);
        double[] c = random(rnd, R * R);
        double[] x = Psd.sylvester(p, q, c, R);
        double[] lhs = Dense.mul(p, x, R, R, R), xq = Dense.mul(x, q, R, R, R);
        for (int i = 0; i < c.length; i++) {
            assertEquals(c[i], lhs[i] + xq[i], 1e-10, "Sylvester residual [" + i + "]");
        }
    }

    @Test
    void adamModeResumesExactlyAndNeedsPlainSgdOutside() throws IOException {
        var m = TinyTraining.model();
        var lora = new LoraConfig(4, 8f, 0f, false, EnumSet.of(Target.Q, Target.DOWN));
        var sgd = TinyTraining.config().steps(4).optimizer("sgd").momentum(0).weightDecay(0).build();
        ResumeCheck.resumesExactly(m, () -> TrainableAdapterSet.lora(m.weights(), lora, 11), sgd, "lorapro", Map.of(), dir);

        var data = TinyTraining.data(sgd.seqLen());
        var adamw = TinyTraining.config().build();
        var ctx = new TrainingMethods.Context(m, TrainableAdapterSet.lora(m.weights(), lora, 11), data, adamw);
        var e = assertThrows(IllegalArgumentException.class, () -> TrainingMethods.create(List.of("lorapro"), Map.of(), ctx));
        assertTrue(e.getMessage().contains("--optimizer sgd --momentum 0 --weight-decay 0"), e.getMessage());
        assertEquals(1, TrainingMethods.create(List.of("lorapro"), Map.of("lorapro_optimizer", "sgd"), ctx).size());
        var vera = AdapterMethods.create("vera", "kaiming", Map.of("rank", "8"), m.weights(), lora.targets(), 1, null)
                .adapters();
        e = assertThrows(IllegalArgumentException.class, () -> TrainingMethods.create(List.of("lorapro"),
                Map.of("lorapro_optimizer", "sgd"), new TrainingMethods.Context(m, vera, data, adamw)));
        assertTrue(e.getMessage().contains("has a vera adapter"), e.getMessage());
    }
}
