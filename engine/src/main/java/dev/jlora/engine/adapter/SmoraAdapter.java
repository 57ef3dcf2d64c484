package dev.jlora.engine.adapter;

import java.util.Map;

/**
 * SMoRA (Zhao et al. 2025, "Each Rank Could be an Expert: Single-Ranked Mixture of Experts LoRA for Multi-Task
 * Learning", §4): one LoRA of rank R whose every rank is an expert: Δ(x) = (α/R)·B·diag(g(x))·A·x, where the gate
 * g(x) is non-zero on the top-k ranks only — here R single-rank experts (a_i, b_i) with g the router softmax
 * renormalised over the chosen ranks. Load balancing is auxiliary-loss-free (§4.2, after DeepSeek-V3): a bias b is
 * added to the routing scores for choosing the ranks only, and after every optimizer step
 * b_i ← b_i + u·sign(mean load − load_i) with u = {@code bias_update_rate} and load_i the number of tokens that chose
 * rank i during the step ({@link #updateBias}, run by the {@code MixtureRouting} hook). The bias is a buffer
 * ({@code router.selection_bias}), saved with the adapter because inference chooses ranks with it.
 *
 * <p>{@code rank} is R (the number of rank experts), {@code top_k} the ranks each token activates (the paper's main
 * setting is 8 of 64).
 */
public final class SmoraAdapter extends LoraMixture {
    private static final String BIAS = "router.selection_bias";
    private final int topK;
    private final float biasRate;
    private final float[] bias;

    public SmoraAdapter(int inFeatures, int outFeatures, int ranks, float alpha, float dropout, int topK,
                        float biasRate) {
        super(inFeatures, outFeatures, 1, ranks, alpha, alpha / ranks, dropout, ExpertSelection.topK(checkTopK(topK, ranks)));
        this.topK = topK;
        this.biasRate = biasRate;
        this.bias = new float[ranks];
    }

    private static int checkTopK(int topK, int ranks) {
        if (topK < 1 || topK > ranks) {
            throw new IllegalArgumentException("smora: top_k must be in 1.." + ranks + " (the rank), got " + topK);
        }
        return topK;
    }

    @Override
    public String method() {
        return "smora";
    }

    @Override
    public Map<String, String> config() {
        var m = baseConfig();
        m.put("rank", Integer.toString(expertCount()));
        m.put("top_k", Integer.toString(topK));
        m.put("bias_update_rate", Float.toString(biasRate));
        return m;
    }

    @Override
    public Map<String, float[]> buffers() {
        return Map.of(BIAS, bias);
    }

    @Override
    protected float[] selectionBias() {
        return bias;
    }

    /** SMoRA has no auxiliary loss: balance comes from the selection bias. */
    @Override
    protected double auxLoss(Routing r, float[] dProbs, float scale) {
        return 0;
    }

    /** b_i += u·sign(mean − load_i) from the per-rank token counts of one step. */
    public void updateBias(long[] chosen) {
        double mean = 0;
        for (long c : chosen) {
            mean += (double) c / chosen.length;
        }
        for (int i = 0; i < bias.length; i++) {
            bias[i] += (float) (biasRate * Math.signum(mean - chosen[i]));
        }
    }
}
