package dev.jlora.engine.adapter;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The attention LoRA of MixLoRA (Li et al. 2024, §3.3: "we also apply LoRA to the self-attention projections"): plain
 * LoRA on q/k/v/o, which writes MixLoRA's configuration so that a saved file (whose metadata is its first adapter's
 * config) rebuilds the whole MixLoRA model — FFN experts included — through {@link AdapterMethods#loader}.
 */
final class MixLoraAttention implements TrainableAdapter {
    private final LoraAdapter lora;
    private final Map<String, String> config;

    MixLoraAttention(int inFeatures, int outFeatures, int rank, float alpha, float dropout, Map<String, String> config) {
        this.lora = new LoraAdapter(inFeatures, outFeatures, rank, alpha, dropout, false);
        this.config = Map.copyOf(config);
    }

    void initKaimingUniform(SplittableRandom rnd) {
        lora.initKaimingUniform(rnd);
    }

    /** The keys of a MixLoRA model, shared by its FFN mixtures and attention LoRAs. */
    static Map<String, String> mixloraConfig(int rank, float alpha, float dropout, int experts, int topK, float auxCoef) {
        var m = new LinkedHashMap<String, String>();
        m.put("method", "mixlora");
        m.put("rank", Integer.toString(rank));
        m.put("alpha", Float.toString(alpha));
        m.put("dropout", Float.toString(dropout));
        m.put("num_experts", Integer.toString(experts));
        m.put("top_k", Integer.toString(topK));
        m.put("aux_loss_coef", Float.toString(auxCoef));
        return m;
    }

    @Override
    public String method() {
        return "mixlora";
    }

    @Override
    public int inFeatures() {
        return lora.inFeatures();
    }

    @Override
    public int outFeatures() {
        return lora.outFeatures();
    }

    @Override
    public List<Parameter> parameters() {
        return lora.parameters();
    }

    @Override
    public Map<String, String> config() {
        return new LinkedHashMap<>(config);
    }

    @Override
    public void forward(float[] x, int T, float[] y) {
        lora.forward(x, T, y);
    }

    @Override
    public Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed) {
        return lora.forwardTrain(x, T, y, dropoutSeed);
    }

    @Override
    public void backward(float[] x, int T, float[] dy, Saved saved, float[] dx) {
        lora.backward(x, T, dy, saved, dx);
    }

    @Override
    public void mergeInto(float[] w) {
        lora.mergeInto(w);
    }
}
