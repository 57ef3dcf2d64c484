package dev.jlora.engine.infer;

/**
 * The outcome of {@link Generator#generate}.
 *
 * @param promptTokens prompt ids as given
 * @param tokens       new ids, including an end-of-generation token that stopped the run
 * @param text         new text, without end-of-generation tokens and without the stop string
 * @param stopReason   why generation ended
 * @param prefillNanos time to run the prompt and get the first logits
 * @param decodeNanos  time of the decode steps (forward of one token and sampling)
 * @param decodeSteps  forwards of single tokens
 */
public record GenerationResult(int[] promptTokens, int[] tokens, String text, StopReason stopReason,
                               long prefillNanos, long decodeNanos, int decodeSteps) {

    public enum StopReason { MAX_TOKENS, END_OF_GENERATION, STOP_STRING, CONTEXT_FULL }

    /** Prompt tokens per second of prefill. */
    public double prefillTokensPerSecond() {
        return prefillNanos == 0 ? 0 : promptTokens.length * 1e9 / prefillNanos;
    }

    /** Single-token forwards per second. */
    public double decodeTokensPerSecond() {
        return decodeNanos == 0 ? 0 : decodeSteps * 1e9 / decodeNanos;
    }
}
