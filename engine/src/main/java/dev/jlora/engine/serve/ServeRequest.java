package dev.jlora.engine.serve;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.GenerationConfig;

/**
 * One generation request for the {@link Scheduler}.
 *
 * @param model    the name the client asked for (the base model or an adapter), reported back only
 * @param adapters the adapter object this request runs with from start to end ({@link AdapterSet#NONE} for the
 *                 base); unloading it from the registry later does not affect this request
 * @param prompt   prompt token ids (at least one)
 * @param config   max tokens, sampling, stop strings, end-of-generation handling
 * @param listener receives the text as it becomes final and then exactly one {@code onFinish} or {@code onError};
 *                 called on the scheduler thread, so it must not block (hand the text to another thread)
 */
public record ServeRequest(String model, AdapterSet adapters, int[] prompt, GenerationConfig config,
                           ServeListener listener) {
    public ServeRequest {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt has no tokens (a model needs at least BOS to start from)");
        }
        adapters = adapters == null ? AdapterSet.NONE : adapters;
        listener = listener == null ? ServeListener.NONE : listener;
    }
}
