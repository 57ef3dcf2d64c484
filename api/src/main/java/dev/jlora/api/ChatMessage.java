package dev.jlora.api;

/**
 * One turn of a conversation, rendered with the model's chat template by {@link Model#chat}.
 *
 * @param role    {@code "system"}, {@code "user"} or {@code "assistant"}
 * @param content the text of the turn
 */
public record ChatMessage(String role, String content) {

    /**
     * A user turn.
     *
     * @param content the text
     * @return the message
     */
    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    /**
     * A system turn (instructions for the assistant).
     *
     * @param content the text
     * @return the message
     */
    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }
}
