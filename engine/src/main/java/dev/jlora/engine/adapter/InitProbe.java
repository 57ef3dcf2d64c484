package dev.jlora.engine.adapter;

import java.util.List;
import java.util.Map;

/**
 * A parameter-free adapter (Δ = 0) that reports what passes through its layer during an {@link InitData} pass: the
 * layer input x to an {@link InputSink} (EVA) and, when given a gradient buffer, accumulates the frozen weight's
 * gradient ∂L/∂W += dyᵀ·x [OC × IC] in backward (LoRA-GA, LoRA-SB). Memory stays bounded by what the sink keeps and
 * by one OC × IC buffer; activations are never stored across batches.
 */
final class InitProbe extends LinearLayerAdapter {
    /** Receives the input x [T × IC] of each forward pass; x must not be kept (the graph reuses it). */
    @FunctionalInterface
    interface InputSink {
        void accept(float[] x, int T);
    }

    /** One adapted layer: (layer, target). */
    record Site(int layer, Target target) {}

    private static final Saved NOTHING = new Saved() {};

    private final InputSink sink;
    private final float[] gradient;

    /**
     * @param sink     null when inputs are not needed
     * @param gradient [OC × IC] accumulated (+=) in backward, or null
     */
    InitProbe(int inFeatures, int outFeatures, InputSink sink, float[] gradient) {
        if (gradient != null && gradient.length != outFeatures * inFeatures) {
            throw new IllegalArgumentException("gradient buffer has " + gradient.length + " elements, expected "
                    + outFeatures + "×" + inFeatures);
        }
        super("init probe", inFeatures, outFeatures);
        this.sink = sink;
        this.gradient = gradient;
    }

    @Override
    public String method() {
        return "init-probe";
    }

    @Override
    public List<Parameter> parameters() {
        return List.of();
    }

    @Override
    public Map<String, String> config() {
        return Map.of("method", method());
    }

    @Override
    public void forward(float[] x, int T, float[] y) {
        if (sink != null) {
            sink.accept(x, T);
        }
    }

    @Override
    public Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed) {
        forward(x, T, y);
        return NOTHING;
    }

    /** ∂L/∂W [OC × IC] += dyᵀ·x (y = x·Wᵀ); Δ = 0 adds nothing to dx. */
    @Override
    public void backward(float[] x, int T, float[] dy, Saved saved, float[] dx) {
        if (gradient != null) {
            SmallMatmul.atbAcc(gradient, 1f, dy, x, T, OC, IC);
        }
    }

    @Override
    public void mergeInto(float[] w) {
        // Δ = 0: nothing to merge
    }
}
