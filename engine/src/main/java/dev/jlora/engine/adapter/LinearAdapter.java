package dev.jlora.engine.adapter;

/**
 * An update Δ to one frozen linear layer y = x·Wᵀ, applied unmerged: y += Δ(x).
 * LoRA and its variants implement this (training adds backward through {@code TrainableAdapter}).
 */
public interface LinearAdapter {
    /** y[t·OC + o] += Δ(x)[t·OC + o] for t < T, with x of shape [T × IC]. */
    void forward(float[] x, int T, float[] y);
}
