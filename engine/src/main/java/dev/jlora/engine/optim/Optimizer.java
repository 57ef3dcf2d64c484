package dev.jlora.engine.optim;

import dev.jlora.engine.adapter.Parameter;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * Updates parameters in place from their accumulated gradients. The parameter list must be the same (names, order,
 * shapes) on every call; state is keyed by parameter name so that it can be checkpointed and restored.
 */
public sealed interface Optimizer permits AdamW, SgdMomentum {

    /** One update with learning rate {@code lr}; gradients are read, not cleared. */
    default void step(List<Parameter> params, float lr) {
        step(params, lr, p -> 1);
    }

    /**
     * One update in which parameter p uses learning rate {@code lr · lrScale(p)} (PyTorch's parameter groups; LoRA+
     * gives B a larger rate). Weight decay uses the same scaled rate, as in PyTorch.
     */
    void step(List<Parameter> params, float lr, ToDoubleFunction<Parameter> lrScale);

    /** Updates done so far (AdamW's bias correction uses it). */
    long stepCount();

    /** Per-parameter state tensors by name ({@code <param>.exp_avg}, …), sharing the live arrays. */
    Map<String, float[]> state();

    /** Restores what {@link #state()} and {@link #stepCount()} returned. */
    void load(Map<String, float[]> state, long stepCount);
}
