package dev.jlora.engine.tokenizer;

import java.util.List;

/** Renders a conversation into the prompt text a chat model was trained on. */
public interface ChatTemplate {
    /** One turn: role is "system", "user" or "assistant". */
    record Message(String role, String content) {}

    /** Template family name, e.g. "llama2", "llama3", "chatml", "mistral". */
    String name();

    /**
     * The prompt text for {@code messages}; with {@code addGenerationPrompt} it ends with the opening of an
     * assistant turn. Special tokens appear as text (encode with parseSpecial = true).
     */
    String render(List<Message> messages, boolean addGenerationPrompt);
}
