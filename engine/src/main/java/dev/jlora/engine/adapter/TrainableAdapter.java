package dev.jlora.engine.adapter;

import java.util.List;
import java.util.Map;

/**
 * A trainable update Δ on one frozen linear layer y = x·Wᵀ (W is [OC × IC]). The whole LoRA family (LoRA, rsLoRA,
 * DoRA, VeRA, PiSSA-initialised LoRA, AdaLoRA, mixtures) implements this; the training graph only talks to it.
 *
 * <p>Contract for training: {@link #forwardTrain} adds Δ(x) to y and returns what {@link #backward} needs; backward
 * accumulates (+=) the gradients of the {@link #parameters()} and of the input. Both must be deterministic for a
 * given {@code dropoutSeed}: activation checkpointing calls forwardTrain again during backward and relies on getting
 * the same dropout mask.
 */
public interface TrainableAdapter extends LinearAdapter {

    /** What forwardTrain saved for backward; opaque to callers. */
    interface Saved {}

    /** Method name as written into adapter files, e.g. {@code "lora"}. */
    String method();

    /** IC: input features of the adapted layer. */
    int inFeatures();

    /** OC: output features of the adapted layer. */
    int outFeatures();

    /** The trainable tensors in a fixed order, named relative to the adapter (e.g. {@code lora_A}). */
    List<Parameter> parameters();

    /**
     * Trainable tensors this adapter shares with other adapters of the same set (MoS's shard pools): every adapter
     * that shares one returns the same {@link Parameter} object, under a set-wide name without a layer prefix
     * (e.g. {@code mos.q_proj.public_A}). {@link TrainableAdapterSet} lists each shared parameter once (optimizer,
     * state, saved files), loads it by that name, and the backward passes of all sharing adapters accumulate (+=)
     * into its one grad array. Not part of {@link #parameters()} nor of {@link #load}. Empty for unshared methods.
     */
    default List<Parameter> sharedParameters() {
        return List.of();
    }

    /**
     * Frozen tensors that belong to the adapter and must be saved with it (VeRA's shared random matrices, DoRA's
     * base column norms); empty for plain LoRA. Named relative to the adapter.
     */
    default Map<String, float[]> buffers() {
        return Map.of();
    }

    /** Hyperparameters that define the adapter (rank, alpha, …) as strings, written into adapter files. */
    Map<String, String> config();

    /**
     * Training forward: y[t·OC + o] += Δ(x)[t·OC + o] for t < T, with dropout (if configured) drawn from
     * {@code dropoutSeed}. x is not modified and must stay unchanged until backward.
     */
    Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed);

    /**
     * Backward of {@link #forwardTrain}: given the same x and the upstream gradient dy [T × OC], accumulates
     * (+=) the parameter gradients and, when {@code dx} is not null, dx [T × IC] += ∂(Δ(x)·dy)/∂x.
     */
    void backward(float[] x, int T, float[] dy, Saved saved, float[] dx);

    /** w [OC × IC] (dense fp32, row-major) += ΔW, so that x·w'ᵀ = x·wᵀ + Δ(x) without dropout. */
    void mergeInto(float[] w);

    /** Loads values saved from {@link #parameters()} and {@link #buffers()}; names must match, shapes must agree. */
    default void load(Map<String, float[]> state) {
        for (Parameter p : parameters()) {
            copyInto(state, p.name(), p.value());
        }
        for (Map.Entry<String, float[]> e : buffers().entrySet()) {
            copyInto(state, e.getKey(), e.getValue());
        }
    }

    private static void copyInto(Map<String, float[]> state, String name, float[] into) {
        float[] src = state.get(name);
        if (src == null) {
            throw new IllegalArgumentException("adapter state has no tensor '" + name + "' (has " + state.keySet() + ")");
        }
        if (src.length != into.length) {
            throw new IllegalArgumentException("adapter tensor '" + name + "' has " + src.length
                    + " elements, expected " + into.length);
        }
        System.arraycopy(src, 0, into, 0, into.length);
    }
}
