package dev.jlora.engine.adapter;

import java.util.Locale;
import java.util.Map;

/**
 * LoRAMoE (Dou et al. 2023, "LoRAMoE: Alleviate World Knowledge Forgetting in Large Language Models via MoE-Style
 * Plugin", §3.1–3.2): a router over E LoRA experts on each linear layer, soft routing over all experts
 * (Eq. 3: y = Wx + Σ_e ω_e(x)·(α/r)·B_e·A_e·x with ω = softmax(x·Wgᵀ)), trained with the localized balancing
 * constraint (§3.2, Eq. 5–7): the experts are split into two groups — the first ⌊E/2⌋ for world knowledge, the rest
 * for the downstream task — the importance of expert e is Q_e = Σ_t ω_te, it is weighted by I_e = 1 + δ when e belongs
 * to the group of the training samples' type and 1 − δ otherwise (δ = {@code blc_alpha}), and the loss is
 * {@code blc_weight}·σ²(Z)/μ(Z) over Z = I ⊙ Q (population variance).
 *
 * <p>The paper labels each sample as world-knowledge or downstream-task data and computes Q per sample; jlora's
 * data has no such labels, so all samples of a run share one type ({@code sample_type}, {@code task} by default)
 * and Q is summed over all tokens of the micro-batch (the two coincide up to the grouping of tokens into samples).
 */
public final class LoraMoeAdapter extends LoraMixture {
    private final float blcAlpha, blcWeight;
    private final boolean taskSamples;

    public LoraMoeAdapter(int inFeatures, int outFeatures, int rank, int experts, float alpha, float dropout,
                          float blcAlpha, float blcWeight, String sampleType) {
        super(inFeatures, outFeatures, rank, experts, alpha, dropout, ExpertSelection.ALL);
        if (experts < 2) {
            throw new IllegalArgumentException("loramoe: num_experts must be at least 2 (two expert groups), got "
                    + experts);
        }
        this.taskSamples = switch (sampleType.trim().toLowerCase(Locale.ROOT)) {
            case "task" -> true;
            case "world" -> false;
            default -> throw new IllegalArgumentException("loramoe: sample_type must be 'task' or 'world', got '"
                    + sampleType + "'");
        };
        if (!(blcAlpha >= 0 && blcAlpha < 1)) {
            throw new IllegalArgumentException("loramoe: blc_alpha must be in [0, 1), got " + blcAlpha);
        }
        this.blcAlpha = blcAlpha;
        this.blcWeight = blcWeight;
    }

    @Override
    public String method() {
        return "loramoe";
    }

    @Override
    public Map<String, String> config() {
        var m = baseConfig();
        m.put("num_experts", Integer.toString(expertCount()));
        m.put("blc_alpha", Float.toString(blcAlpha));
        m.put("blc_weight", Float.toString(blcWeight));
        m.put("sample_type", taskSamples ? "task" : "world");
        return m;
    }

    /** I_e: 1 + δ for the experts of the samples' group, 1 − δ for the others. */
    private double coefficient(int e) {
        boolean taskExpert = e >= expertCount() / 2;
        return taskExpert == taskSamples ? 1 + blcAlpha : 1 - blcAlpha;
    }

    /** blc_weight·σ²(Z)/μ(Z); ∂/∂Z_e = w·(2(Z_e − μ)/(E·μ) − σ²/(E·μ²)), ∂Z_e/∂ω_te = I_e (soft routing: ω = p). */
    @Override
    protected double auxLoss(Routing r, float[] dProbs, float scale) {
        if (blcWeight == 0) {
            return 0;
        }
        int T = r.T(), E = r.E();
        double[] z = new double[E];
        for (int t = 0; t < T; t++) {
            for (int e = 0; e < E; e++) {
                z[e] += r.weights()[t * E + e];
            }
        }
        double mean = 0;
        for (int e = 0; e < E; e++) {
            z[e] *= coefficient(e);
            mean += z[e] / E;
        }
        double var = 0;
        for (int e = 0; e < E; e++) {
            var += (z[e] - mean) * (z[e] - mean) / E;
        }
        if (dProbs != null) {
            for (int e = 0; e < E; e++) {
                double dz = blcWeight * (2 * (z[e] - mean) / (E * mean) - var / (E * mean * mean));
                float d = (float) (scale * dz * coefficient(e));
                for (int t = 0; t < T; t++) {
                    dProbs[t * E + e] += d;
                }
            }
        }
        return blcWeight * var / mean;
    }
}
