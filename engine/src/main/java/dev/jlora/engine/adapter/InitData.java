package dev.jlora.engine.adapter;

import dev.jlora.engine.data.Batch;

/**
 * Training batches for the data-driven initialisations ({@link EvaInit}, {@link LoraGaInit}, {@link LoraSbInit}): they
 * run the frozen model with parameter-free {@link InitProbe}s as its adapters and read what passes through each
 * adapted layer (its input x, or the weight gradient ∂L/∂W = Σ_t dyᵀ·x). Implemented in {@code engine.train}
 * ({@code InitBatches}) over the training graph, so the adapter package needs no graph of its own.
 */
public interface InitData {

    /** Batch {@code i} ≥ 0; the same i always gives the same batch, and a source cycles through its data as needed. */
    Batch batch(int i);

    /** Forward pass of {@code batch} without dropout or gradients, with {@code probes} as the model's adapters. */
    void forward(Batch batch, AdapterSet probes);

    /**
     * Forward and backward of {@code batch} with {@code probes} as the adapters; the loss (mean cross-entropy over the
     * batch's targets) is multiplied by {@code gradScale} before its gradient flows back.
     */
    void forwardBackward(Batch batch, AdapterSet probes, float gradScale);
}
