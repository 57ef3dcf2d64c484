package dev.jlora.engine.dynamics;

import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * Smoothed importance with uncertainty, the score AdaLoRA (Zhang et al. 2023, §3.3, Eq. (9)–(11)) defines and
 * IncreLoRA reuses for whole modules: for each tracked value, given its instantaneous importance I⁽ᵗ⁾,
 *
 * <pre>
 *   Ī⁽ᵗ⁾ = β₁·Ī⁽ᵗ⁻¹⁾ + (1 − β₁)·I⁽ᵗ⁾                (sensitivity smoothing, Eq. 9)
 *   Ū⁽ᵗ⁾ = β₂·Ū⁽ᵗ⁻¹⁾ + (1 − β₂)·|I⁽ᵗ⁾ − Ī⁽ᵗ⁾|       (uncertainty, Eq. 10)
 *   s⁽ᵗ⁾ = Ī⁽ᵗ⁾ · Ū⁽ᵗ⁾                                 (Eq. 11)
 * </pre>
 * starting from zero as PEFT's {@code RankAllocator.update_ipt}. Values are grouped under keys (a parameter's name,
 * a module's name); the EMAs are the state a resumed run needs ({@link #state()} / {@link #load}).
 */
final class ImportanceScores {
    private final double beta1, beta2;
    private final Map<String, float[]> smoothed = new LinkedHashMap<>(), uncertainty = new LinkedHashMap<>();

    ImportanceScores(String owner, double beta1, double beta2) {
        if (!(beta1 > 0 && beta1 < 1) || !(beta2 > 0 && beta2 < 1)) {
            throw new IllegalArgumentException(owner + ": beta1 and beta2 must be in (0, 1), got " + beta1 + ", " + beta2);
        }
        this.beta1 = beta1;
        this.beta2 = beta2;
    }

    /** Folds the instantaneous importance {@code ipt} of the values under {@code key} into the EMAs. */
    void update(String key, float[] ipt) {
        float[] s = smoothed.computeIfAbsent(key, k -> new float[ipt.length]);
        float[] u = uncertainty.computeIfAbsent(key, k -> new float[ipt.length]);
        if (s.length != ipt.length) {
            throw new IllegalArgumentException("importance '" + key + "' has " + s.length + " values, got " + ipt.length);
        }
        for (int i = 0; i < ipt.length; i++) {
            s[i] = (float) (beta1 * s[i] + (1 - beta1) * ipt[i]);
            u[i] = (float) (beta2 * u[i] + (1 - beta2) * Math.abs(ipt[i] - s[i]));
        }
    }

    /** I = |w ⊙ ∇w| element-wise (AdaLoRA Eq. 8, the sensitivity of each parameter element). */
    static float[] sensitivity(float[] value, float[] grad) {
        float[] ipt = new float[value.length];
        for (int i = 0; i < ipt.length; i++) {
            ipt[i] = Math.abs(value[i] * grad[i]);
        }
        return ipt;
    }

    /** s = Ī·Ū of the values under {@code key} (zeros if never updated). */
    float[] score(String key, int n) {
        float[] s = smoothed.get(key), u = uncertainty.get(key);
        float[] out = new float[n];
        if (s != null) {
            for (int i = 0; i < n; i++) {
                out[i] = s[i] * u[i];
            }
        }
        return out;
    }

    /** Forgets everything (PEFT's {@code reset_ipt} once the final rank pattern is fixed). */
    void reset() {
        smoothed.clear();
        uncertainty.clear();
    }

    /** The EMAs by key ({@code <key>.ipt}, {@code <key>.unc}), sharing the live arrays. */
    Map<String, float[]> state() {
        var m = new LinkedHashMap<String, float[]>();
        smoothed.forEach((k, v) -> m.put(k + ".ipt", v));
        uncertainty.forEach((k, v) -> m.put(k + ".unc", v));
        return m;
    }

    /** Restores what {@link #state()} returned (other entries of {@code state} are ignored). */
    void load(Map<String, float[]> state) {
        reset();
        for (var e : state.entrySet()) {
            String k = e.getKey();
            if (k.endsWith(".ipt")) {
                smoothed.put(k.substring(0, k.length() - 4), e.getValue().clone());
            } else if (k.endsWith(".unc")) {
                uncertainty.put(k.substring(0, k.length() - 4), e.getValue().clone());
            }
        }
        if (!smoothed.keySet().equals(uncertainty.keySet())) {
            throw new IllegalArgumentException("importance state has smoothed scores for " + smoothed.keySet()
                    + " but uncertainties for " + uncertainty.keySet());
        }
    }

    /**
     * Indices of {@code scores} from lowest to highest; ties keep index order, so a selection of the k lowest (or
     * highest) is exactly k entries and reproducible.
     */
    static int[] ascending(double[] scores) {
        return IntStream.range(0, scores.length).boxed()
                .sorted(Comparator.<Integer>comparingDouble(i -> scores[i]).thenComparingInt(i -> i))
                .mapToInt(Integer::intValue).toArray();
    }

    /** Positions {@code ascending(scores)[0..k)}, as a boolean set. */
    static boolean[] lowest(double[] scores, int k) {
        boolean[] out = new boolean[scores.length];
        int[] order = ascending(scores);
        for (int i = 0; i < Math.min(k, order.length); i++) {
            out[order[i]] = true;
        }
        return out;
    }
}
