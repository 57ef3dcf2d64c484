package dev.jlora.engine.train;

import dev.jlora.engine.adapter.Parameter;
import java.util.List;
import java.util.Map;

/**
 * A method that changes how training proceeds, not only what an adapter computes: rank allocation (AdaLoRA's budget
 * schedule), optimizer-side rules (LoRA+ learning-rate ratio, LoRA-Pro gradient adjustment), layer sampling (LISA),
 * router statistics of mixtures. Every callback defaults to doing nothing, so a hook overrides only what its paper
 * changes. {@link Trainer} calls them, for each optimizer step, in this order:
 *
 * <pre>
 * beforeStep(step)
 *   for each micro-batch: beforeForward(graph, inputs, true) → graph.forwardBackward → afterMicroBatch(...)
 * afterBackward(step)                  → extra loss (regularisers add their gradient here)
 * select the parameters with isActive(p); clip their gradients
 * adjustGradients(step, lr, active)    → e.g. LoRA-Pro's equivalent-gradient projection
 * optimizer step with lr · lrScale(p)
 * afterStep(step)                      → masking, rank growth, re-sampling
 * metrics()                            → merged into the step's metrics.jsonl line
 * </pre>
 * Evaluation calls {@code beforeForward(graph, inputs, false)} before each held-out batch. Steps are counted from 0 in
 * these callbacks ({@code step} is the index of the step being run, {@link Trainer#step()} before it).
 *
 * <p>Checkpoints: {@link #state()} and {@link #meta()} are written with the hook's {@link #name()} as prefix and
 * given back to {@link #load} on resume, so a resumed run continues exactly (a hook whose behaviour depends on the
 * step only needs no state). Hooks must be deterministic functions of the seed, the step and their state.
 */
public interface TrainingHook {

    /** Short unique name, used as the prefix of its checkpoint entries (e.g. {@code "adalora"}). */
    String name();

    /** Trainable tensors the hook owns outside the adapters (a router, a scaling head); a fixed list. */
    default List<Parameter> parameters() {
        return List.of();
    }

    /** Before the micro-batches of step {@code step} (0-based) of {@code totalSteps}. */
    default void beforeStep(int step, int totalSteps) {}

    /**
     * Before each forward through {@code graph}: {@code training} is false for evaluation batches. X-LoRA-style
     * methods run their own pre-pass here.
     */
    default void beforeForward(LlamaTrainGraph graph, int[] inputs, boolean training) {}

    /** After the backward of one micro-batch, with the same inputs and the loss scale the graph used. */
    default void afterMicroBatch(LlamaTrainGraph graph, int[] inputs, float gradScale) {}

    /**
     * After all micro-batches of the step: add regularisers' gradients (+=) to the parameters here and return their
     * value, which is added to the step's logged loss (0 when none).
     */
    default double afterBackward(int step) {
        return 0;
    }

    /** Whether {@code p} takes part in this step's clipping and update (LISA freezes all but sampled layers). */
    default boolean isActive(Parameter p) {
        return true;
    }

    /** After clipping, before the optimizer: rewrite the gradients of the {@code active} parameters in place. */
    default void adjustGradients(int step, float lr, List<Parameter> active) {}

    /** Multiplier of the scheduled learning rate for {@code p} (LoRA+ gives B a larger one). */
    default double lrScale(Parameter p) {
        return 1;
    }

    /** After the optimizer step. */
    default void afterStep(int step) {}

    /** Values for this step's metrics line (e.g. {@code total_rank}, {@code expert_load}); numbers, strings, lists. */
    default Map<String, Object> metrics() {
        return Map.of();
    }

    /** Tensors to checkpoint, by name (sharing live arrays is fine). */
    default Map<String, float[]> state() {
        return Map.of();
    }

    /** Scalars to checkpoint, by name. */
    default Map<String, String> meta() {
        return Map.of();
    }

    /** Restores what {@link #state()} and {@link #meta()} returned (names without the prefix). */
    default void load(Map<String, float[]> state, Map<String, String> meta) {}
}
