package dev.jlora.engine.adapter;

import dev.jlora.quant.QuantMatrix;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The layer LoRAPrune trains (Zhang et al. 2023, "LoRAPrune: Structured Pruning Meets Low-Rank Parameter-Efficient
 * Fine-Tuning", ACL Findings 2024): LoRA whose output rows are multiplied by a 0/1 pruning mask,
 * y = m ⊙ (x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ), as the authors' {@code loraprune/lora.py} {@code Linear.forward} does
 * ({@code result *= lora_mask}). The mask is set by the {@code loraprune} training hook
 * ({@link dev.jlora.engine.dynamics.LoraPrune}) on q, k, v (the rows of pruned head groups) and gate, up (pruned
 * channels); o and down keep an all-ones mask: a pruned head's output and a pruned channel's activation are exactly
 * zero, so their columns of Wo and Wdown have no effect. The mask is a buffer ({@code prune_mask}), saved with the
 * adapter, so generation, evaluation and {@code jlora merge} (which zeroes the pruned rows of W + ΔW) apply it.
 *
 * <p>Backward: the graph adds dy·W for the frozen weight before calling the adapter, but the true input gradient is
 * (m ⊙ dy)·W; the adapter subtracts ((1 − m) ⊙ dy)·W when that is non-zero (it is for v, whose pruned rows still
 * receive attention gradients; for q, k, gate and up it is exactly zero once v and up are masked).
 */
public final class LoraPruneAdapter implements TrainableAdapter {
    public static final String METHOD = "loraprune";
    static final String MASK = "prune_mask";

    private final LoraAdapter lora;
    private final QuantMatrix base;
    private final float[] mask;
    private final Map<String, String> own;

    /** A LoRAPrune layer on {@code base} with nothing pruned; {@code own} holds the hook's keys for {@link #config()}. */
    public LoraPruneAdapter(QuantMatrix base, LoraAdapter lora, Map<String, String> own) {
        if (lora.inFeatures() != base.cols() || lora.outFeatures() != base.rows()) {
            throw new IllegalArgumentException("LoRAPrune layer: LoRA is " + lora.outFeatures() + "×" + lora.inFeatures()
                    + " but the base weight is " + base.rows() + "×" + base.cols());
        }
        this.lora = lora;
        this.base = base;
        this.mask = new float[base.rows()];
        Arrays.fill(mask, 1f);
        this.own = Map.copyOf(own);
    }

    /** The LoRA inside (A, B, their gradients, the scale): what the LoRA-guided criterion reads. */
    public LoraAdapter lora() {
        return lora;
    }

    /** The live output mask [OC]: 1 kept, 0 pruned. */
    public float[] mask() {
        return mask;
    }

    /** Replaces the mask with {@code m} (1 kept, 0 pruned). */
    public void setMask(float[] m) {
        if (m.length != mask.length) {
            throw new IllegalArgumentException("LoRAPrune mask has " + m.length + " entries, expected " + mask.length);
        }
        System.arraycopy(m, 0, mask, 0, m.length);
    }

    @Override
    public String method() {
        return METHOD;
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
    public Map<String, float[]> buffers() {
        return Map.of(MASK, mask);
    }

    @Override
    public Map<String, String> config() {
        var m = new LinkedHashMap<>(lora.config());
        m.put("method", METHOD);
        m.putAll(new java.util.TreeMap<>(own));
        return m;
    }

    @Override
    public void forward(float[] x, int T, float[] y) {
        lora.forward(x, T, y);
        applyMask(y, T);
    }

    @Override
    public Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed) {
        Saved s = lora.forwardTrain(x, T, y, dropoutSeed);
        applyMask(y, T);
        return s;
    }

    /** y[t·OC + o] *= m[o]: the base output, its bias and the LoRA update of pruned rows become exactly 0. */
    private void applyMask(float[] y, int T) {
        int OC = mask.length;
        for (int o = 0; o < OC; o++) {
            if (mask[o] == 0f) {
                for (int t = 0; t < T; t++) {
                    y[t * OC + o] = 0f;
                }
            }
        }
    }

    /** LoRA's backward with dy ⊙ m; dx += LoRA's input gradient − ((1 − m) ⊙ dy)·W (see the class comment). */
    @Override
    public void backward(float[] x, int T, float[] dy, Saved saved, float[] dx) {
        int OC = mask.length;
        float[] kept = dy.clone();
        float[] prunedNeg = new float[dy.length];
        boolean anyPruned = false;
        for (int o = 0; o < OC; o++) {
            if (mask[o] == 0f) {
                for (int t = 0; t < T; t++) {
                    int i = t * OC + o;
                    prunedNeg[i] = -dy[i];
                    anyPruned |= dy[i] != 0f;
                    kept[i] = 0f;
                }
            }
        }
        lora.backward(x, T, kept, saved, dx);
        if (dx != null && anyPruned) {
            base.matmulBackwardInput(prunedNeg, T, dx);
        }
    }

    /** w [OC × IC] ← m ⊙ (w + s·B·A), row-wise: the merged weight of the pruned layer (pruned rows zero). */
    @Override
    public void mergeInto(float[] w) {
        lora.mergeInto(w);
        int IC = lora.inFeatures();
        for (int o = 0; o < mask.length; o++) {
            if (mask[o] == 0f) {
                Arrays.fill(w, o * IC, (o + 1) * IC, 0f);
            }
        }
    }
}
