package dev.jlora.engine.adapter;

import java.util.Map;

/**
 * MeteoRA (Xu et al. 2024, "MeteoRA: Multiple-tasks Embedded LoRA for Large Language Models", §3): N LoRA adapters
 * pre-trained on different tasks are embedded in one model, frozen, and a trainable gating network on every adapted
 * linear chooses among them per token: Δ(x_t) = Σ_{a ∈ top-k} ŵ_a·s_a·B_a·A_a·x_t with ŵ the gate's softmax
 * renormalised over the top k (the paper's full-mode MoE, k = 2). Because the choice is made for each token and each
 * layer, one sequence can switch adapters midway (the paper's composite-task setting). Only the gates train, with the
 * language-modelling loss (no auxiliary loss). The adapters are saved with the file as buffers, each B
 * pre-multiplied by its own alpha/r and zero-padded to the largest rank ({@link LoraExperts#copyFrom}).
 */
public final class MeteoraAdapter extends LoraMixture {
    private final int topK;

    public MeteoraAdapter(int inFeatures, int outFeatures, int rank, int adapters, int topK) {
        super(inFeatures, outFeatures, rank, adapters, rank, 1f, 0f, ExpertSelection.topK(checkTopK(topK, adapters)));
        this.topK = topK;
    }

    private static int checkTopK(int topK, int adapters) {
        if (topK < 1 || topK > adapters) {
            throw new IllegalArgumentException("meteora: top_k must be in 1.." + adapters + " (the adapters), got " + topK);
        }
        return topK;
    }

    /** Embeds pre-trained adapter a (frozen). */
    void setAdapter(int a, LoraAdapter lora) {
        experts.copyFrom(a, lora, "meteora");
    }

    /** Gate N(0, 0.02²); the adapters come from {@link #setAdapter} or a file. */
    void initializeGate(java.util.SplittableRandom rnd) {
        router.initNormal(rnd, 0.02);
    }

    @Override
    protected boolean expertsTrainable() {
        return false;
    }

    @Override
    public String method() {
        return "meteora";
    }

    @Override
    public Map<String, String> config() {
        var m = new java.util.LinkedHashMap<String, String>();
        m.put("method", method());
        m.put("rank", Integer.toString(rank));
        m.put("num_experts", Integer.toString(expertCount()));
        m.put("top_k", Integer.toString(topK));
        return m;
    }

    @Override
    protected double auxLoss(Routing r, float[] dProbs, float scale) {
        return 0;
    }
}
