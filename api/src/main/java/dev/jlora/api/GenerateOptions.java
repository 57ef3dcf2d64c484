package dev.jlora.api;

import java.util.List;

/**
 * How to generate: length, sampling and stop strings. Immutable; the {@code with…} methods return a copy.
 *
 * @param maxTokens     new tokens at most (≥ 0)
 * @param temperature   0 for greedy decoding, otherwise the softmax temperature
 * @param topK          keep the k most likely tokens; 0 = off
 * @param topP          nucleus sampling mass; 1 = off
 * @param minP          drop tokens below minP × the top probability; 0 = off
 * @param repeatPenalty penalty on recently generated tokens; 1 = off
 * @param seed          seed of the sampler (the same seed and settings give the same text)
 * @param stop          strings that end the generation before they would be printed
 * @param stopAtEos     whether an end-of-generation token ends the generation
 */
public record GenerateOptions(int maxTokens, float temperature, int topK, float topP, float minP, float repeatPenalty,
                              long seed, List<String> stop, boolean stopAtEos) {

    /** Validates and copies {@code stop}. */
    public GenerateOptions {
        if (maxTokens < 0) {
            throw new IllegalArgumentException("maxTokens must be ≥ 0, got " + maxTokens);
        }
        stop = List.copyOf(stop);
    }

    /**
     * Greedy decoding (always the most likely token): deterministic, what tests and golden outputs use.
     *
     * @param maxTokens new tokens at most
     * @return the options
     */
    public static GenerateOptions greedy(int maxTokens) {
        return new GenerateOptions(maxTokens, 0f, 0, 1f, 0f, 1f, 0L, List.of(), true);
    }

    /**
     * Sampling with the CLI's defaults (top-k 40, top-p 0.95, min-p 0.05).
     *
     * @param maxTokens   new tokens at most
     * @param temperature softmax temperature (&gt; 0)
     * @param seed        seed of the sampler
     * @return the options
     */
    public static GenerateOptions sampled(int maxTokens, float temperature, long seed) {
        return new GenerateOptions(maxTokens, temperature, 40, 0.95f, 0.05f, 1f, seed, List.of(), true);
    }

    /**
     * A copy that also stops before {@code text}.
     *
     * @param text a stop string
     * @return the new options
     */
    public GenerateOptions withStop(String text) {
        var all = new java.util.ArrayList<>(stop);
        all.add(text);
        return new GenerateOptions(maxTokens, temperature, topK, topP, minP, repeatPenalty, seed, all, stopAtEos);
    }

    /**
     * A copy that keeps generating after end-of-generation tokens (up to {@link #maxTokens}).
     *
     * @return the new options
     */
    public GenerateOptions ignoringEos() {
        return new GenerateOptions(maxTokens, temperature, topK, topP, minP, repeatPenalty, seed, stop, false);
    }
}
