package dev.jlora.engine.adapter;

import java.util.Map;

/**
 * MoLA (Gao et al. 2024, "Higher Layers Need More LoRA Experts", §3): top-k routed LoRA experts on each linear layer
 * (y = Wx + Σ_{e ∈ top-k} ŵ_e·(α/r)·B_e·A_e·x, ŵ the router softmax renormalised over the top k, k = 2 in the
 * paper), with a layer-wise expert allocation: {@code experts_per_layer} lists expert counts for consecutive groups
 * of layers, e.g. {@code 2,4,6,8} ("MoLA-▽": the lower quarter of the layers gets 2 experts, the top quarter 8).
 * Layer l of L gets entry ⌊l·n/L⌋ of the n counts, so a list as long as the model gives one count per layer.
 *
 * <p>Like the authors' code (and MoE-PEFT's {@code MolaSparseMoe}), MoLA trains without a balancing loss by
 * default; {@code aux_loss_coef} &gt; 0 adds the Switch load-balancing loss (counts of top-k assignments / T).
 */
public final class MolaAdapter extends LoraMixture {
    private final String pattern;
    private final int topK;
    private final float auxCoef;

    public MolaAdapter(int inFeatures, int outFeatures, int rank, int experts, float alpha, float dropout,
                       int topK, float auxCoef, String pattern) {
        super(inFeatures, outFeatures, rank, experts, alpha, dropout, ExpertSelection.topK(checkTopK(topK, experts)));
        this.pattern = pattern;
        this.topK = topK;
        this.auxCoef = auxCoef;
    }

    private static int checkTopK(int topK, int experts) {
        if (topK < 1 || topK > experts) {
            throw new IllegalArgumentException("mola: top_k must be in 1.." + experts + " (this layer's experts), got "
                    + topK);
        }
        return topK;
    }

    /** Expert count of {@code layer} of {@code layers} from a comma-separated pattern such as {@code 2,4,6,8}. */
    public static int expertsOfLayer(String pattern, int layer, int layers) {
        String[] parts = pattern.split(",");
        int n = parts.length;
        String v = parts[(int) ((long) layer * n / layers)].trim();
        try {
            int e = Integer.parseInt(v);
            if (e < 1) {
                throw new NumberFormatException();
            }
            return e;
        } catch (NumberFormatException ex) {
            throw new IllegalArgumentException("mola: experts_per_layer must be comma-separated positive counts such as "
                    + "'2,4,6,8', got '" + pattern + "'");
        }
    }

    @Override
    public String method() {
        return "mola";
    }

    @Override
    public Map<String, String> config() {
        var m = baseConfig();
        m.put("experts_per_layer", pattern);
        m.put("top_k", Integer.toString(topK));
        m.put("aux_loss_coef", Float.toString(auxCoef));
        return m;
    }

    @Override
    protected double auxLoss(Routing r, float[] dProbs, float scale) {
        return BalanceLosses.switchLoad(r.probs(), r.chosen(), r.T(), r.T(), r.E(), auxCoef, dProbs, scale);
    }
}
