package dev.jlora.engine.adapter;

import java.util.Map;

/**
 * DynMoLE (Li et al. 2025, "DynMoLE: Boosting Mixture of LoRA Experts Fine-Tuning with a Hybrid Routing Mechanism",
 * §3): LoRA experts on each linear layer with a hybrid router driven by the Tsallis entropy
 * S_q(p) = (1 − Σ_e p_e^q)/(q − 1) of the token's router distribution p:
 * <ul>
 *   <li>uncertain tokens, S_q(p) ≥ h, use soft routing over all experts (weights p);</li>
 *   <li>the others use top-p routing — the fewest highest-probability experts whose probabilities sum to at least
 *       {@code top_p} — with at least {@code keep_top_k} experts, weights renormalised over the chosen ones.</li>
 * </ul>
 * h is {@code entropy_threshold} × S_q(uniform over E), so that one setting fits every expert count.
 * The auxiliary loss is the paper's: a Switch load-balancing term over the top-2 assignments (fractions of all
 * assignments, coefficient {@code aux_loss_coef}, 1e-3) plus {@code entropy_loss_coef} (1e-2) × the mean Tsallis
 * entropy of the router (q = {@code tsallis_q}, 1.1), which pushes the router towards confident decisions. The loss
 * coefficients, the top-2 balance and q = 1.1 follow a public re-implementation that states them as the paper's
 * defaults; top_p and the entropy threshold are our defaults, since their values were not available to us.
 */
public final class DynMoleAdapter extends LoraMixture {
    private static final int BALANCE_TOP_K = 2;
    private final float topP, entropyThreshold, q, auxCoef, entropyCoef;
    private final int keepTopK;

    public DynMoleAdapter(int inFeatures, int outFeatures, int rank, int experts, float alpha, float dropout,
                          float topP, int keepTopK, float q, float entropyThreshold, float auxCoef, float entropyCoef) {
        super(inFeatures, outFeatures, rank, experts, alpha, dropout,
                hybrid(experts, check(topP, keepTopK, q, experts), keepTopK, q, entropyThreshold));
        this.topP = topP;
        this.keepTopK = keepTopK;
        this.q = q;
        this.entropyThreshold = entropyThreshold;
        this.auxCoef = auxCoef;
        this.entropyCoef = entropyCoef;
    }

    private static float check(float topP, int keepTopK, float q, int experts) {
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("dynmole: top_p must be in (0, 1], got " + topP);
        }
        if (keepTopK < 1 || keepTopK > experts) {
            throw new IllegalArgumentException("dynmole: keep_top_k must be in 1.." + experts + ", got " + keepTopK);
        }
        if (!(q > 0) || q == 1) {
            throw new IllegalArgumentException("dynmole: tsallis_q must be positive and not 1, got " + q);
        }
        return topP;
    }

    /** The hybrid selection of the class comment. */
    private static ExpertSelection hybrid(int E, float topP, int keepTopK, float q, float threshold) {
        float[] uniform = new float[E];
        java.util.Arrays.fill(uniform, 1f / E);
        double h = threshold * BalanceLosses.tsallis(uniform, 0, E, q);
        return new ExpertSelection() {
            @Override
            public void choose(float[] probs, float[] scores, int off, int E, boolean[] chosen) {
                if (BalanceLosses.tsallis(probs, off, E, q) >= h) {
                    ExpertSelection.ALL.choose(probs, scores, off, E, chosen);
                    return;
                }
                double mass = 0;
                for (int n = 0; n < E && (n < keepTopK || mass < topP); n++) {
                    ExpertSelection.markTopK(scores, off, E, 1, chosen);   // the next best expert
                    mass = 0;
                    for (int e = 0; e < E; e++) {
                        if (chosen[off + e]) {
                            mass += probs[off + e];
                        }
                    }
                }
            }

            @Override
            public boolean renormalize() {
                return true;
            }
        };
    }

    @Override
    public String method() {
        return "dynmole";
    }

    @Override
    public Map<String, String> config() {
        var m = baseConfig();
        m.put("num_experts", Integer.toString(expertCount()));
        m.put("top_p", Float.toString(topP));
        m.put("keep_top_k", Integer.toString(keepTopK));
        m.put("tsallis_q", Float.toString(q));
        m.put("entropy_threshold", Float.toString(entropyThreshold));
        m.put("aux_loss_coef", Float.toString(auxCoef));
        m.put("entropy_loss_coef", Float.toString(entropyCoef));
        return m;
    }

    @Override
    protected double auxLoss(Routing r, float[] dProbs, float scale) {
        int T = r.T(), E = r.E();
        boolean[] top2 = new boolean[T * E];
        for (int t = 0; t < T; t++) {
            ExpertSelection.markTopK(r.probs(), t * E, E, BALANCE_TOP_K, top2);
        }
        double balance = BalanceLosses.switchLoad(r.probs(), top2, (double) T * Math.min(BALANCE_TOP_K, E), T, E,
                auxCoef, dProbs, scale);
        return balance + BalanceLosses.tsallisMean(r.probs(), T, E, q, entropyCoef, dProbs, scale);
    }
}
