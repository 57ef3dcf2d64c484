package dev.jlora.engine.serve;

import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.infer.Sampler;
import dev.jlora.engine.infer.StopStrings;
import dev.jlora.engine.infer.Utf8Stream;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.tokenizer.Tokenizer;

/**
 * One running request: its KV cache (an {@link InferenceSession} with the request's adapters), sampler, UTF-8 and
 * stop-string state. The per-token logic is the one of {@code Generator.generate}, cut at the decode step so that
 * the scheduler can advance many sequences one token each; greedy output is therefore identical to the Generator's.
 */
final class Sequence {
    final ServeRequest request;
    final InferenceSession session;
    final int reservedPositions;
    private final Tokenizer tokenizer;
    private final Sampler sampler;
    private final Utf8Stream utf8 = new Utf8Stream();
    private final StopStrings stop;
    private int generated;
    private int counted;                 // tokens already added to the scheduler's total
    private int nextToken = -1;          // token to feed at the next decode step, −1 when none
    private int prefilled;               // prompt tokens already in the KV cache
    private ServeResult result;
    volatile boolean cancelled;

    Sequence(ServeRequest request, LlamaModel model, int contextSize) {
        this.request = request;
        this.tokenizer = model.tokenizer();
        this.reservedPositions = contextSize;
        this.session = new InferenceSession(model, request.adapters(), contextSize);
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

    /** True while part of the prompt still has to be prefilled. */
    boolean prefilling() {
        return result == null && prefilled < request.prompt().length;
    }

    /** The next at most {@code max} prompt tokens to prefill, counted as prefilled. */
    int[] takePrefillChunk(int max) {
        int n = Math.min(max, request.prompt().length - prefilled);
        int[] chunk = java.util.Arrays.copyOfRange(request.prompt(), prefilled, prefilled + n);
        prefilled += n;
        return chunk;
    }

    /**
     * After a prefill chunk ran: the logits of its last position start generation if that was the prompt's end
     * (earlier chunks' logits are not needed).
     */
    void prefilled(float[] logits) {
        if (!prefilling()) {
            accept(logits);
        }
    }

    /** True while the sequence waits for a decode step of {@link #pendingToken()}. */
    boolean needsDecode() {
        return result == null && nextToken >= 0;
    }

    int pendingToken() {
        return nextToken;
    }

    /** Samples from {@code logits} (the result of the last forward) and decides whether to go on. */
    void accept(float[] logits) {
        nextToken = -1;
        int id = sampler.sample(logits);
        sampler.accept(id);
        generated++;
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

    /** Tokens generated since the last call (for the scheduler's running total). */
    int takeNewTokens() {
        int n = generated - counted;
        counted = generated;
        return n;
    }

    boolean done() {
        return result != null;
    }
}
