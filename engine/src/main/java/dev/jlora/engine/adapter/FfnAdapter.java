package dev.jlora.engine.adapter;

import dev.jlora.engine.model.LlamaWeights;

/**
 * An adapter that replaces a block's whole feed-forward network rather than adding Δ(x) to one linear: out =
 * FFN'(x) with x = the normalised FFN input [T × C]. For mixtures whose experts are whole FFNs (MixLoRA: the frozen
 * SwiGLU FFN with a LoRA on each of gate/up/down per expert), which the per-linear contract cannot express because
 * SiLU sits between gate/up and down. It occupies the {@link Target#DOWN} slot of its adapter set (so files, names and
 * parameter lists need no new target); the training graph and the inference forward call these methods instead of
 * gate → up → SwiGLU → down when that slot holds an FfnAdapter.
 */
public interface FfnAdapter {

    /** The FFN adapter of block {@code layer} of {@code adapters}, or null. */
    static FfnAdapter of(AdapterSet adapters, int layer) {
        return adapters.get(layer, Target.DOWN) instanceof FfnAdapter f ? f : null;
    }

    /** Inference: out [T × C] = FFN'(x) (overwrites), with the frozen weights of {@code layer}. */
    void forwardFfn(LlamaWeights.Layer layer, float[] x, int T, float[] out);

    /** Training forward: as {@link #forwardFfn}, with dropout from {@code dropoutSeed}; returns what backward needs. */
    TrainableAdapter.Saved forwardFfnTrain(LlamaWeights.Layer layer, float[] x, int T, float[] out, long dropoutSeed);

    /** Backward: accumulates (+=) the parameters' gradients and dx [T × C] given dout [T × C]. */
    void backwardFfn(LlamaWeights.Layer layer, float[] x, int T, float[] dout, TrainableAdapter.Saved saved, float[] dx);
}
