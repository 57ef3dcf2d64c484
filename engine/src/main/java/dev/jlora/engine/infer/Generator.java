package dev.jlora.engine.infer;

import dev.jlora.engine.tokenizer.Tokenizer;

/**
 * The generation loop: prefill the prompt, then sample, stream and feed back one token at a time until
 * max tokens, an end-of-generation token, a stop string or a full context.
 */
public final class Generator {
    /** Receives text as it is produced. */
    @FunctionalInterface
    public interface Listener {
        /**
         * {@code id} was generated and {@code text} is the new text that is final now (often the token's text; empty
         * while a multi-byte character or a possible stop string is incomplete). At the end, text held back so far
         * comes with id −1.
         */
        void onToken(int id, String text);

        Listener NONE = (id, text) -> { };
    }

    private final InferenceSession session;
    private final Tokenizer tokenizer;

    public Generator(InferenceSession session, Tokenizer tokenizer) {
        this.session = session;
        this.tokenizer = tokenizer;
    }

    public InferenceSession session() {
        return session;
    }

    /**
     * Continues the session with {@code prompt} (at {@code session.position()}) and generates. The last generated
     * token is not fed back, so afterwards the session holds the prompt and all new tokens but the last.
     */
    public GenerationResult generate(int[] prompt, GenerationConfig cfg, Listener listener) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt has no tokens (a model needs at least BOS to start from)");
        }
        int room = session.contextSize() - session.position();
        if (prompt.length > room) {
            throw new IllegalArgumentException("prompt of " + prompt.length + " tokens does not fit the " + room
                    + " free positions of the context (size " + session.contextSize() + ")");
        }
        Sampler sampler = new Sampler(cfg.sampling(), session.config().vocabSize());
        for (int id : prompt) {
            sampler.accept(id);
        }
        var utf8 = new Utf8Stream();
        var stop = new StopStrings(cfg.stopStrings());
        int[] out = new int[cfg.maxTokens()];
        int n = 0;
        GenerationResult.StopReason reason = GenerationResult.StopReason.MAX_TOKENS;

        long t0 = System.nanoTime();
        float[] logits = cfg.maxTokens() > 0 ? session.prefill(prompt) : null;
        long prefillNanos = System.nanoTime() - t0;
        long decodeNanos = 0;
        int steps = 0;
        while (n < cfg.maxTokens()) {
            int id = sampler.sample(logits);
            sampler.accept(id);
            out[n++] = id;
            if (cfg.stopAtEndOfGeneration() && tokenizer.isEndOfGeneration(id)) {
                reason = GenerationResult.StopReason.END_OF_GENERATION;
                break;
            }
            String piece = stop.append(utf8.push(tokenizer.tokenBytes(id)));
            listener.onToken(id, piece);
            if (stop.stopped()) {
                reason = GenerationResult.StopReason.STOP_STRING;
                break;
            }
            if (n == cfg.maxTokens()) {
                break;
            }
            if (session.position() >= session.contextSize()) {
                reason = GenerationResult.StopReason.CONTEXT_FULL;
                break;
            }
            long t = System.nanoTime();
            logits = session.decode(id);
            decodeNanos += System.nanoTime() - t;
            steps++;
        }
        if (!stop.stopped()) {
            String rest = stop.finish(utf8.finish());
            if (!rest.isEmpty()) {
                listener.onToken(-1, rest);
            }
        }
        return new GenerationResult(prompt.clone(), java.util.Arrays.copyOf(out, n), stop.text(), reason,
                prefillNanos, decodeNanos, steps);
    }
}
