package dev.jlora.engine.prune;

import dev.jlora.engine.adapter.Target;

/**
 * Importance of pruning structures from element-wise scores of one weight matrix: the sum of the scores of the
 * elements a structure owns, the group importance of LLM-Pruner (Ma, Fang &amp; Wang 2023, "LLM-Pruner: On the Structural
 * Pruning of Large Language Models", its summation aggregation) and of LoRAPrune (Zhang et al. 2023, the group
 * importance as the sum over the group's weights, as the authors' {@code compute_sensitivity} sums rows or columns).
 */
public final class GroupImportance {
    private GroupImportance() {}

    /** Element scores of one [OC × IC] matrix, a row at a time. */
    @FunctionalInterface
    public interface ElementScores {
        /** out[i] = score of element (o, i) for i &lt; IC; overwrites out. */
        void row(int o, double[] out);
    }

    /**
     * Σ of the element scores per structure of {@code kind(t)} in a block shaped like {@code geometry}: the rows of q,
     * k, v, gate and up, the columns of o and down (see {@link StructuredMask#rowGroup}, {@link StructuredMask#colGroup}).
     */
    public static double[] sum(StructuredMask geometry, Target t, int OC, int IC, ElementScores scores) {
        double[] out = new double[geometry.groups(StructuredMask.Kind.of(t))];
        double[] row = new double[IC];
        boolean byRow = StructuredMask.groupsRows(t);
        for (int o = 0; o < OC; o++) {
            scores.row(o, row);
            if (byRow) {
                double s = 0;
                for (int i = 0; i < IC; i++) {
                    s += row[i];
                }
                out[geometry.rowGroup(t, o)] += s;
            } else {
                for (int i = 0; i < IC; i++) {
                    out[geometry.colGroup(t, i)] += row[i];
                }
            }
        }
        return out;
    }

    /** s ← s / (‖s‖₂ + 1e-8): puts modules of different scale on one footing before their scores are added. */
    public static void normalize(double[] s) {
        double n = 0;
        for (double v : s) {
            n += v * v;
        }
        double k = 1 / (Math.sqrt(n) + 1e-8);
        for (int i = 0; i < s.length; i++) {
            s[i] *= k;
        }
    }
}
