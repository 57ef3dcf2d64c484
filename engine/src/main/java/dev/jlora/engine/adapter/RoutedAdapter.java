package dev.jlora.engine.adapter;

/**
 * An adapter with a token router and an auxiliary routing loss (the mixtures of LoRA experts). It computes the loss
 * in its training forward and adds the loss's gradient, × {@link #setAuxGradScale}, in its backward; the training
 * hook ({@code dynamics.MixtureRouting}) sets that scale, reports the loss and reads the statistics.
 */
public interface RoutedAdapter {
    /** Multiplier of the auxiliary loss's gradient: 1/accumulation steps, as the main loss's gradScale. */
    void setAuxGradScale(float scale);

    /** The statistics accumulated by backward passes since the last call, and resets them. */
    RoutingStats drainStats();
}
