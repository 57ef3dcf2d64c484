package dev.jlora.engine.serve;

import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.infer.KvPagePool;
import dev.jlora.engine.infer.Sampler;
import dev.jlora.engine.infer.StopStrings;
import dev.jlora.engine.infer.Utf8Stream;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.tokenizer.Tokenizer;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One running request: its KV cache (an {@link InferenceSession} with the request's adapters), sampler, UTF-8 and
 * stop-string state. The per-token logic is the one of {@code Generator.generate}, cut at the decode step so that
 * the scheduler can advance many sequences one token each; greedy output is therefore identical to the Generator's.
 *
 * <p>A preempted sequence ({@link #preempt}) loses its KV cache but keeps everything else; when it runs again its
 * prompt and the tokens it generated so far are prefilled anew ("recomputation", vLLM §4.5) and it continues with the
 * token it had sampled last, so its output does not change.
 */
final class Sequence {
    final ServeRequest request;
    final InferenceSession session;
    private final Tokenizer tokenizer;
    private final Sampler sampler;
    private final Utf8Stream utf8 = new Utf8Stream();
    private final StopStrings stop;
    private int generated;
    private int[] generatedIds = new int[16];   // [generated] sampled tokens, for recomputation after preemption
    private final AtomicLong generatedTotal;   // the scheduler's count over all requests
    private int nextToken = -1;          // token to feed at the next decode step, −1 when none
    private int cached;                  // tokens of the context in the KV cache (or in the chunk being prefilled)
    private ServeResult result;
    volatile boolean cancelled;

    /**
     * A sequence of at most {@code contextSize} positions whose KV pages come from {@code pool}; each token it
     * generates is added to {@code generatedTotal} before the listener hears of it.
     */
    Sequence(ServeRequest request, LlamaModel model, int contextSize, KvPagePool pool, AtomicLong generatedTotal) {
        this.request = request;
        this.generatedTotal = generatedTotal;
        this.tokenizer = model.tokenizer();
        this.session = new InferenceSession(model, request.adapters(), contextSize,
                InferenceSession.DEFAULT_MAX_BATCH, pool);
        this.sampler = new Sampler(request.config().sampling(), model.config().vocabSize());
        this.stop = new StopStrings(request.config().stopStrings());
    }

    /**
     * Feeds the prompt to the sampler's history; false when nothing is to be generated (max tokens 0: finished
     * here), true when the prompt must be prefilled ({@link #takePrefillChunk}, then {@link #prefilled}).
     */
    boolean begin() {
        for (int id : request.prompt()) {
            sampler.accept(id);
        }
        if (request.config().maxTokens() == 0) {
            finish(ServeResult.Finish.MAX_TOKENS);
            return false;
        }
        return true;
    }

    /**
     * Tokens the KV cache must hold before the next decode step: the prompt, then every generated token but the
     * pending one.
     */
    int contextLength() {
        return request.prompt().length + generated - (nextToken >= 0 ? 1 : 0);
    }

    /** True while part of the prompt (or, after a preemption, of the generated tokens) still has to be prefilled. */
    boolean prefilling() {
        return result == null && cached < contextLength();
    }

    /** The next at most {@code max} tokens to prefill, counted as prefilled. */
    int[] takePrefillChunk(int max) {
        int[] prompt = request.prompt();
        int n = Math.min(max, contextLength() - cached);
        int[] chunk = new int[n];
        for (int i = 0; i < n; i++) {
            int at = cached + i;
            chunk[i] = at < prompt.length ? prompt[at] : generatedIds[at - prompt.length];
        }
        cached += n;
        return chunk;
    }

    /**
     * After a prefill chunk ran: the logits of its last position start generation if that was the prompt's end
     * (earlier chunks' logits are not needed, nor those of a recomputation: its next token is already sampled).
     */
    void prefilled(float[] logits) {
        if (!prefilling() && nextToken < 0) {
            accept(logits);
        }
    }

    /** Drops the KV cache (its pages go back to the pool); the context is prefilled again when it runs next. */
    void preempt() {
        session.releaseCache();
        cached = 0;
    }

    /** True while the sequence waits for a decode step of {@link #pendingToken()}. */
    boolean needsDecode() {
        return result == null && nextToken >= 0 && !prefilling();
    }

    int pendingToken() {
        return nextToken;
    }

    /** Samples from {@code logits} (the result of the last forward) and decides whether to go on. */
    void accept(float[] logits) {
        if (nextToken >= 0) {
            cached++;   // the logits are those of the pending token's decode step
        }
        nextToken = -1;
        int id = sampler.sample(logits);
        sampler.accept(id);
        if (generated == generatedIds.length) {
            generatedIds = java.util.Arrays.copyOf(generatedIds, 2 * generated);
        }
        generatedIds[generated++] = id;
        generatedTotal.incrementAndGet();
        if (request.config().stopAtEndOfGeneration() && tokenizer.isEndOfGeneration(id)) {
            finish(ServeResult.Finish.END_OF_GENERATION);
            return;
        }
        String piece = stop.append(utf8.push(tokenizer.tokenBytes(id)));
        if (!piece.isEmpty()) {
            request.listener().onText(piece);
        }
        if (stop.stopped()) {
            finish(ServeResult.Finish.STOP_STRING);
        } else if (generated == request.config().maxTokens()) {
            finish(ServeResult.Finish.MAX_TOKENS);
        } else if (session.position() >= session.contextSize()) {
            finish(ServeResult.Finish.CONTEXT_FULL);
        } else {
            nextToken = id;
        }
    }

    /** Ends the sequence: flushes held-back text (unless a stop string ended it) and reports the result. */
    void finish(ServeResult.Finish why) {
        if (result != null) {
            return;
        }
        if (!stop.stopped()) {
            String rest = stop.finish(utf8.finish());
            if (!rest.isEmpty() && why != ServeResult.Finish.CANCELLED) {
                request.listener().onText(rest);
            }
        }
        result = new ServeResult(stop.text(), request.prompt().length, generated, why);
        request.listener().onFinish(result);
    }

    /** Ends the sequence with an error (a bug or a bad adapter): the listener gets onError, nothing else. */
    void fail(Exception e) {
        if (result != null) {
            return;
        }
        result = new ServeResult(stop.text(), request.prompt().length, generated, ServeResult.Finish.CANCELLED);
        request.listener().onError(e);
    }

    boolean done() {
        return result != null;
    }
}
