package dev.jlora.engine.adapter;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * X-LoRA (Buehler &amp; Buehler 2024, "X-LoRA: Mixture of Low-Rank Adapter Experts", §2, Eq. 1–3) on one linear
 * layer: N frozen, pre-trained LoRA adapters mixed per token with the scalings λ_t,l of its {@link XLoraModel}:
 * Δ(x_t) = Σ_a λ_t,l,a·s_a·B_a·A_a·x_t. The adapters are buffers (never trained, saved with the file, each B_a stored
 * pre-multiplied by its own s_a = alpha_a/r_a and zero-padded to the largest rank, which leaves ΔW_a unchanged); only
 * the scaling head trains, through the ∂L/∂λ this backward accumulates into the model. During the scaling pass it
 * adds nothing.
 */
public final class XLoraAdapter extends LinearLayerAdapter {
    private final int layer;
    private final XLoraModel model;
    private final LoraExperts experts;
    private final boolean ownsHead;

    private record Saved(Routing routing, LoraExperts.Saved experts) implements TrainableAdapter.Saved {}

    /**
     * Empty adapters of rank {@code rank} (to load or {@link #setExpert}); {@code ownsHead} for the first adapted
     * target of the layer, which carries the layer's head rows.
     */
    XLoraAdapter(XLoraModel model, int layer, int inFeatures, int outFeatures, int rank, boolean ownsHead) {
        this.model = model;
        this.layer = layer;
        super("X-LoRA", inFeatures, outFeatures);
        this.experts = new LoraExperts(inFeatures, outFeatures, rank, model.adapters(), 1f);
        this.ownsHead = ownsHead;
    }

    /** Copies expert a from a trained LoRA (see {@link LoraExperts#copyFrom}). */
    void setExpert(int a, LoraAdapter lora) {
        experts.copyFrom(a, lora, "xlora layer " + layer);
    }

    XLoraModel model() {
        return model;
    }

    @Override
    public String method() {
        return "xlora";
    }

    /** The layer's scaling-head rows on its first adapter; nothing else trains. */
    @Override
    public List<Parameter> parameters() {
        return ownsHead ? model.head(layer) : List.of();
    }

    @Override
    public Map<String, float[]> buffers() {
        var m = new LinkedHashMap<String, float[]>();
        for (Parameter p : experts.parameters()) {
            m.put(p.name(), p.value());
        }
        return m;
    }

    @Override
    public Map<String, String> config() {
        var m = new LinkedHashMap<String, String>();
        m.put("method", method());
        m.put("rank", Integer.toString(experts.rank()));
        m.put("num_experts", Integer.toString(model.adapters()));
        m.put("softmax_temperature", Float.toString(model.temperature()));
        return m;
    }

    @Override
    public void forward(float[] x, int T, float[] y) {
        if (!model.scalingPass()) {
            experts.forward(x, T, model.routing(layer, T), y);
        }
    }

    @Override
    public TrainableAdapter.Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed) {
        if (model.scalingPass()) {
            return null;
        }
        Routing r = model.routing(layer, T);
        return new Saved(r, experts.forward(x, T, r, y));
    }

    /** dx += Σ_a λ_a·s_a·(dy·B_a)·A_a; ∂L/∂λ_t,a = (dy_t·s_a·B_a)·(A_a·x_t) into the model; the adapters stay frozen. */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("xlora backward needs the state of its own scaled forwardTrain, got "
                    + saved);
        }
        float[] dScalings = new float[T * model.adapters()];
        experts.backward(x, T, dy, s.routing(), s.experts(), false, dScalings, dx);
        model.addScalingGrad(layer, dScalings);
    }

    @Override
    public void mergeInto(float[] w) {
        throw new UnsupportedOperationException("xlora scales its adapters per token from the hidden states, so it "
                + "cannot be merged into W; serve it unmerged (jlora generate --adapter)");
    }
}
