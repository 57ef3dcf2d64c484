package dev.jlora.engine.serve;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.GenerationConfig;

/**
 * One generation request for the {@link Scheduler}.
 *
 * @param model     the name the client asked for (the base model or an adapter), reported back only
 * @param adapters  the adapter object this request runs with from start to end ({@link AdapterSet#NONE} for the
 *                  base); unloading it from the registry later does not affect this request
 * @param prompt    prompt token ids (at least one)
 * @param config    max tokens, sampling, stop strings, end-of-generation handling
 * @param listener  receives the text as it becomes final and then exactly one {@code onFinish} or {@code onError};
 *                  called on the scheduler thread, so it must not block (hand the text to another thread)
 * @param ropeScale linear RoPE scaling (position interpolation) on top of the base's, for an adapter trained with
 *                  it (LongLoRA, {@code jlora train --rope-scale}); 1 for none. Each request's attention uses its own,
 *                  so such adapters batch with the others.
 */
public record ServeRequest(String model, AdapterSet adapters, int[] prompt, GenerationConfig config,
                           ServeListener listener, float ropeScale) {
    public ServeRequest {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt has no tokens (a model needs at least BOS to start from)");
        }
        checkRopeScale(ropeScale);
        adapters = adapters == null ? AdapterSet.NONE : adapters;
        listener = listener == null ? ServeListener.NONE : listener;
    }

    /** A request without RoPE scaling of its own. */
    public ServeRequest(String model, AdapterSet adapters, int[] prompt, GenerationConfig config, ServeListener listener) {
        this(model, adapters, prompt, config, listener, 1f);
    }

    /** The rule of {@link dev.jlora.engine.model.LlamaConfig#withLinearRopeScaling}, checked where the request is made. */
    static void checkRopeScale(float ropeScale) {
        if (!(ropeScale >= 1f) || !Float.isFinite(ropeScale)) {
            throw new IllegalArgumentException("RoPE scale must be a finite factor ≥ 1 (1 for none), got " + ropeScale);
        }
    }
}
