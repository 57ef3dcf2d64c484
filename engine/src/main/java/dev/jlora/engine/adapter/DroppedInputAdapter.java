package dev.jlora.engine.adapter;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The frame shared by adapters whose trainable path reads the layer input x [T × IC] through inverted dropout
 * ({@link InputDropout}): the dropout rate, and inference as the training forward with dropout
 * off, so the two paths cannot drift apart. A subclass writes {@link #run} and its backward.
 */
abstract class DroppedInputAdapter extends LinearLayerAdapter {
    protected final float dropout;

    /** @param method the name used in error messages (the paper's spelling) */
    DroppedInputAdapter(String method, int inFeatures, int outFeatures, float dropout) {
        super(method, inFeatures, outFeatures);
        InputDropout.checkRate(method, dropout);
        this.dropout = dropout;
    }

    @Override
    public final void forward(float[] x, int T, float[] y) {
        run(InputDropout.apply(x, T * IC, 0, 0), T, y);
    }

    @Override
    public final TrainableAdapter.Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed) {
        return run(InputDropout.apply(x, T * IC, dropout, dropoutSeed), T, y);
    }

    /** A config map that starts with the keys such adapters share: method, rank and dropout. */
    protected final Map<String, String> commonConfig(int rank) {
        var c = new LinkedHashMap<String, String>();
        c.put("method", method());
        c.put("rank", Integer.toString(rank));
        c.put("dropout", Float.toString(dropout));
        return c;
    }

    /** As {@link #commonConfig(int)} with the scaling numerator alpha after the rank. */
    protected final Map<String, String> commonConfig(int rank, float alpha) {
        var c = new LinkedHashMap<String, String>();
        c.put("method", method());
        c.put("rank", Integer.toString(rank));
        c.put("alpha", Float.toString(alpha));
        c.put("dropout", Float.toString(dropout));
        return c;
    }

    /** y [T × OC] += Δ(xd) for the (possibly dropped) input; returns what the backward needs. */
    abstract TrainableAdapter.Saved run(InputDropout drop, int T, float[] y);
}
