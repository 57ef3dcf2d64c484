package dev.jlora.engine.merge;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Element-wise merging of dense updates ("task vectors", here one module's ΔW each), as PEFT's
 * {@code utils/merge_utils.py} implements them for {@code add_weighted_adapter(combination_type="ties_svd" |
 * "dare_linear_svd" | "dare_ties_svd")}: per tensor, trim or drop first, then weight, then combine.
 *
 * <ul>
 * <li>TIES (Yadav et al. 2023, "TIES-Merging: Resolving Interference When Merging Models", §3 and Algorithm 1):
 * trim each task vector to its top-k% entries by magnitude (k = density), elect per entry the sign of the total
 * mass Σₜ τ̂ₜ (ties go to +), and average only the entries that agree with it ("disjoint mean"; trimmed entries,
 * being 0, never agree). Weights multiply the trimmed vectors before the election, as in PEFT.</li>
 * <li>DARE (Yu et al. 2024, "Language Models are Super Mario: Absorbing Abilities from Homologous Models as a Free
 * Lunch", §3 Eq. 2): drop each entry with probability p = 1 − density and rescale the survivors by 1/(1 − p), which
 * keeps the expectation; then add (DARE-linear) or resolve signs as TIES does (DARE-TIES).</li>
 * </ul>
 */
final class TaskVectors {
    private TaskVectors() {}

    /** Σ wₜ·τₜ. */
    static double[] linear(double[][] tau, double[] w) {
        double[] out = new double[tau[0].length];
        for (int t = 0; t < tau.length; t++) {
            for (int i = 0; i < out.length; i++) {
                out[i] += w[t] * tau[t][i];
            }
        }
        return out;
    }

    /** TIES: trim each τₜ to its top {@code density} fraction by magnitude, weight, elect signs, disjoint mean. */
    static double[] ties(double[][] tau, double[] w, double density) {
        double[][] trimmed = new double[tau.length][];
        for (int t = 0; t < tau.length; t++) {
            trimmed[t] = trimToTopMagnitude(tau[t], density);
            scale(trimmed[t], w[t]);
        }
        return disjointMean(trimmed);
    }

    /** DARE-linear: Σ wₜ·dare(τₜ), each drop drawn from its own stream. */
    static double[] dareLinear(double[][] tau, double[] w, double density, SplittableRandom[] rnd) {
        double[][] dropped = new double[tau.length][];
        for (int t = 0; t < tau.length; t++) {
            dropped[t] = dropAndRescale(tau[t], density, rnd[t]);
        }
        return linear(dropped, w);
    }

    /** DARE-TIES: dare(τₜ), weight, elect signs, disjoint mean. */
    static double[] dareTies(double[][] tau, double[] w, double density, SplittableRandom[] rnd) {
        double[][] dropped = new double[tau.length][];
        for (int t = 0; t < tau.length; t++) {
            dropped[t] = dropAndRescale(tau[t], density, rnd[t]);
            scale(dropped[t], w[t]);
        }
        return disjointMean(dropped);
    }

    /**
     * A copy of x keeping its k = ⌊density·n⌋ largest entries by magnitude (PEFT's {@code magnitude_based_pruning});
     * among entries equal to the k-th magnitude the first ones by index are kept, so exactly k survive.
     */
    static double[] trimToTopMagnitude(double[] x, double density) {
        int n = x.length, k = (int) (density * n);
        double[] out = new double[n];
        if (k <= 0) {
            return out;
        }
        double[] mag = new double[n];
        for (int i = 0; i < n; i++) {
            mag[i] = Math.abs(x[i]);
        }
        Arrays.sort(mag);
        double threshold = mag[n - k];
        int above = 0;
        for (double v : x) {
            above += Math.abs(v) > threshold ? 1 : 0;
        }
        int equalLeft = k - above;
        for (int i = 0; i < n; i++) {
            double m = Math.abs(x[i]);
            if (m > threshold || (m == threshold && equalLeft-- > 0)) {
                out[i] = x[i];
            }
        }
        return out;
    }

    /** DARE's drop: each entry kept with probability {@code density} and then divided by it, else 0. */
    static double[] dropAndRescale(double[] x, double density, SplittableRandom rnd) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            if (rnd.nextDouble() < density) {
                out[i] = x[i] / density;
            }
        }
        return out;
    }

    /**
     * TIES steps 2 and 3: the elected sign γ = sign(Σₜ τₜ) per entry (+ when the sum is 0, PEFT's
     * {@code calculate_majority_sign_mask(method="total")}), then the mean over the τₜ whose sign equals γ
     * (PEFT's {@code disjoint_merge}: a count of agreeing vectors, at least 1).
     */
    static double[] disjointMean(double[][] tau) {
        int n = tau[0].length;
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            double mass = 0;
            for (double[] t : tau) {
                mass += t[i];
            }
            double elected = mass >= 0 ? 1 : -1;
            double sum = 0;
            int agree = 0;
            for (double[] t : tau) {
                if (Math.signum(t[i]) == elected) {
                    sum += t[i];
                    agree++;
                }
            }
            out[i] = sum / Math.max(1, agree);
        }
        return out;
    }

    private static void scale(double[] x, double f) {
        for (int i = 0; i < x.length; i++) {
            x[i] *= f;
        }
    }
}
