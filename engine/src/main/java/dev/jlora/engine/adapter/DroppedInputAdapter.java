package dev.jlora.engine.adapter;

/**
 * The frame shared by adapters whose trainable path reads the layer input x [T × IC] through inverted dropout
 * ({@link InputDropout}): the layer's shape, the dropout rate, and inference as the training forward with dropout
 * off, so the two paths cannot drift apart. A subclass writes {@link #run} and its backward.
 */
abstract class DroppedInputAdapter implements TrainableAdapter {
    protected final int IC, OC;
    protected final float dropout;

    /** @param method the name used in error messages (the paper's spelling) */
    DroppedInputAdapter(String method, int inFeatures, int outFeatures, float dropout) {
        if (inFeatures <= 0 || outFeatures <= 0) {
            throw new IllegalArgumentException(method + " layer shape must be positive, got IC=" + inFeatures
                    + " OC=" + outFeatures);
        }
        InputDropout.checkRate(method, dropout);
        this.IC = inFeatures;
        this.OC = outFeatures;
        this.dropout = dropout;
    }

    @Override
    public final int inFeatures() {
        return IC;
    }

    @Override
    public final int outFeatures() {
        return OC;
    }

    @Override
    public final void forward(float[] x, int T, float[] y) {
        run(InputDropout.apply(x, T * IC, 0, 0), T, y);
    }

    @Override
    public final TrainableAdapter.Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed) {
        return run(InputDropout.apply(x, T * IC, dropout, dropoutSeed), T, y);
    }

    /** y [T × OC] += Δ(xd) for the (possibly dropped) input; returns what the backward needs. */
    abstract TrainableAdapter.Saved run(InputDropout drop, int T, float[] y);
}
