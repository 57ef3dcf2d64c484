package dev.jlora.engine.adapter;

/** The adapters attached to a model: at most one per (layer, target). */
public interface AdapterSet {
    /** The adapter on {@code target} of block {@code layer}, or null when that layer has none. */
    LinearAdapter get(int layer, Target target);

    /** No adapters: the base model. */
    AdapterSet NONE = (layer, target) -> null;
}
