package dev.jlora.engine.infer;

import java.util.List;

/**
 * What to generate.
 *
 * @param maxTokens             at most this many new tokens
 * @param sampling              how each token is picked
 * @param stopStrings           generation ends before the first occurrence of any of these in the new text
 * @param stopAtEndOfGeneration end at EOS and end-of-turn tokens ({@code Tokenizer.isEndOfGeneration}); they are not
 *                              part of the text
 */
public record GenerationConfig(int maxTokens, SamplerConfig sampling, List<String> stopStrings,
                               boolean stopAtEndOfGeneration) {
    public GenerationConfig {
        if (maxTokens < 0) {
            throw new IllegalArgumentException("max tokens must be ≥ 0, got " + maxTokens);
        }
        stopStrings = List.copyOf(stopStrings);
        for (String s : stopStrings) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("stop strings must not be empty");
            }
        }
    }

    public GenerationConfig(int maxTokens, SamplerConfig sampling) {
        this(maxTokens, sampling, List.of(), true);
    }
}
