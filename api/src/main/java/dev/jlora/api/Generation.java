package dev.jlora.api;

/**
 * The outcome of one generation.
 *
 * @param text                   the generated text (without the prompt)
 * @param promptTokens           tokens of the prompt, BOS included
 * @param generatedTokens        tokens generated
 * @param stopReason             why it ended: {@code max_tokens}, {@code end_of_generation}, {@code stop_string} or
 *                               {@code context_full}
 * @param decodeTokensPerSecond  generation speed after the prompt
 */
public record Generation(String text, int promptTokens, int generatedTokens, String stopReason,
                         double decodeTokensPerSecond) {}
