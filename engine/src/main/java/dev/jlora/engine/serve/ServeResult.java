package dev.jlora.engine.serve;

/**
 * How a request ended.
 *
 * @param text             all new text (no end-of-generation token, no stop string)
 * @param promptTokens     tokens of the prompt
 * @param completionTokens tokens generated, including an end-of-generation token that ended the request
 * @param finish           why it ended
 */
public record ServeResult(String text, int promptTokens, int completionTokens, Finish finish) {
    public enum Finish {
        END_OF_GENERATION, STOP_STRING, MAX_TOKENS, CONTEXT_FULL, CANCELLED;

        /** OpenAI's {@code finish_reason}: "stop" for a natural end or stop string, "length" for a limit. */
        public String openAiReason() {
            return switch (this) {
                case END_OF_GENERATION, STOP_STRING, CANCELLED -> "stop";
                case MAX_TOKENS, CONTEXT_FULL -> "length";
            };
        }
    }
}
