package dev.jlora.engine.adapter;

/** The shape every adapter on one linear layer y = x·Wᵀ (W [OC × IC]) holds, checked once. */
abstract class LinearLayerAdapter implements TrainableAdapter {
    protected final int IC, OC;

    /** @param method the name used in error messages (the paper's spelling) */
    LinearLayerAdapter(String method, int inFeatures, int outFeatures) {
        if (inFeatures <= 0 || outFeatures <= 0) {
            throw new IllegalArgumentException(method + " layer shape must be positive, got IC=" + inFeatures
                    + " OC=" + outFeatures);
        }
        this.IC = inFeatures;
        this.OC = outFeatures;
    }

    @Override
    public final int inFeatures() {
        return IC;
    }

    @Override
    public final int outFeatures() {
        return OC;
    }
}
