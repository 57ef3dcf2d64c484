package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.tokenizer.ChatTemplate;
import dev.jlora.engine.tokenizer.ChatTemplate.Message;

import java.util.List;

/**
 * The chat formats of the common llama families, rendered as llama.cpp's built-in templates do
 * ({@code llm_chat_apply_template} in {@code llama-chat.cpp}); the rendered text holds special tokens as
 * text, so encode it with parseSpecial = true. BOS is not part of the text: encode with addSpecial = true.
 *
 * <p>Detection ({@link #detect}) reads the Jinja template shipped with the model (GGUF
 * {@code tokenizer.chat_template}, tokenizer_config.json {@code chat_template}) for family markers, in
 * llama.cpp's order ({@code llm_chat_detect_template}):
 * <ol>
 *   <li>{@code <|im_start|>} → ChatML (Qwen, OpenHermes, …);</li>
 *   <li>{@code [INST]} (or a template starting with "mistral") → Mistral when it has {@code [SYSTEM_PROMPT]} (v7),
 *       {@code ' [INST] ' + system_message} (v1) or {@code [AVAILABLE_TOOLS]} (v3; "v3-tekken" when written
 *       {@code "[INST]"}); otherwise Llama 2, with a {@code <<SYS>>} block when the template has one,
 *       {@code <s>} before later turns when it writes {@code bos_token + '[INST]}, trimmed contents when it
 *       calls {@code content.strip()};</li>
 *   <li>{@code <|assistant|>} and {@code <|end|>} → Phi-3;</li>
 *   <li>{@code <|start_header_id|>} and {@code <|end_header_id|>} → Llama 3.</li>
 * </ol>
 * Without a template, or with one that matches none of these, the vocabulary decides
 * ({@link #forVocabulary}): a {@code <|start_header_id|>} token means Llama 3, {@code <|im_start|>} ChatML,
 * {@code [INST]} Mistral v3, otherwise Llama 2 with {@code <<SYS>>} for SentencePiece vocabularies and ChatML for
 * byte-level BPE ones.
 */
public final class ChatTemplates {
    private ChatTemplates() {
    }

    /** The family whose markers {@code template} contains, or null when it matches none. */
    public static ChatTemplate detect(String template) {
        if (template == null || template.isEmpty()) {
            return null;
        }
        if (template.contains("<|im_start|>")) {
            return new ChatMl();
        }
        if (template.startsWith("mistral") || template.contains("[INST]")) {
            if (template.contains("[SYSTEM_PROMPT]")) {
                return new Mistral(Mistral.Version.V7);
            }
            if (template.contains("' [INST] ' + system_message") || template.contains("[AVAILABLE_TOOLS]")) {
                if (template.contains(" [INST]")) {
                    return new Mistral(Mistral.Version.V1);
                }
                return new Mistral(template.contains("\"[INST]\"") ? Mistral.Version.V3_TEKKEN : Mistral.Version.V3);
            }
            return new Llama2(template.contains("<<SYS>>") || template.contains("content.strip()")
                    || template.contains("bos_token + '[INST]"),
                    template.contains("bos_token + '[INST]") && !template.contains("content.strip()"),
                    template.contains("content.strip()"));
        }
        if (template.contains("<|assistant|>") && template.contains("<|end|>")) {
            return new Phi3();
        }
        if (template.contains("<|start_header_id|>") && template.contains("<|end_header_id|>")) {
            return new Llama3();
        }
        return null;
    }

    /** The template for a vocabulary: its own chat template when recognised, else a choice by its tokens (see class doc). */
    public static ChatTemplate forVocabulary(Vocabulary vocab) {
        ChatTemplate detected = detect(vocab.chatTemplate());
        if (detected != null) {
            return detected;
        }
        List<String> pieces = vocab.pieces();
        if (pieces.contains("<|start_header_id|>")) {
            return new Llama3();
        }
        if (pieces.contains("<|im_start|>")) {
            return new ChatMl();
        }
        if (pieces.contains("[INST]")) {
            return new Mistral(Mistral.Version.V3);
        }
        return vocab.model() == Vocabulary.Model.SPM ? new Llama2(true, false, false) : new ChatMl();
    }

    /** {@code <|im_start|>role\ncontent<|im_end|>\n} per message. */
    record ChatMl() implements ChatTemplate {
        @Override
        public String name() {
            return "chatml";
        }

        @Override
        public String render(List<Message> messages, boolean addGenerationPrompt) {
            StringBuilder sb = new StringBuilder();
            for (Message m : messages) {
                sb.append("<|im_start|>").append(m.role()).append('\n').append(m.content()).append("<|im_end|>\n");
            }
            if (addGenerationPrompt) {
                sb.append("<|im_start|>assistant\n");
            }
            return sb.toString();
        }
    }

    /** {@code <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>} with trimmed contents. */
    record Llama3() implements ChatTemplate {
        @Override
        public String name() {
            return "llama3";
        }

        @Override
        public String render(List<Message> messages, boolean addGenerationPrompt) {
            StringBuilder sb = new StringBuilder();
            for (Message m : messages) {
                sb.append("<|start_header_id|>").append(m.role()).append("<|end_header_id|>\n\n")
                        .append(trim(m.content())).append("<|eot_id|>");
            }
            if (addGenerationPrompt) {
                sb.append("<|start_header_id|>assistant<|end_header_id|>\n\n");
            }
            return sb.toString();
        }
    }

    /**
     * {@code [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST]assistant</s>[INST] …}; the assistant's turn
     * follows {@code [/INST]} directly, so there is no separate generation prompt.
     *
     * @param systemBlock   system text goes in a {@code <<SYS>>} block (else it is prepended to the user turn)
     * @param bosInHistory  later turns open with {@code <s>[INST]}
     * @param strip         contents are trimmed
     */
    record Llama2(boolean systemBlock, boolean bosInHistory, boolean strip) implements ChatTemplate {
        @Override
        public String name() {
            return "llama2";
        }

        @Override
        public String render(List<Message> messages, boolean addGenerationPrompt) {
            StringBuilder sb = new StringBuilder("[INST] ");
            boolean insideTurn = true;
            for (Message m : messages) {
                String content = strip ? trim(m.content()) : m.content();
                if (!insideTurn) {
                    insideTurn = true;
                    sb.append(bosInHistory ? "<s>[INST] " : "[INST] ");
                }
                switch (m.role()) {
                    case "system" -> {
                        if (systemBlock) {
                            sb.append("<<SYS>>\n").append(content).append("\n<</SYS>>\n\n");
                        } else {
                            sb.append(content).append('\n');
                        }
                    }
                    case "user" -> sb.append(content).append(" [/INST]");
                    default -> {
                        sb.append(content).append("</s>");
                        insideTurn = false;
                    }
                }
            }
            return sb.toString();
        }
    }

    /** Mistral's {@code [INST]} formats: the system text opens the first user turn, no {@code <<SYS>>} block. */
    record Mistral(Version version) implements ChatTemplate {
        /** The tokenizer versions of mistralai's chat-template guide. */
        enum Version { V1, V3, V3_TEKKEN, V7 }

        @Override
        public String name() {
            return "mistral";
        }

        @Override
        public String render(List<Message> messages, boolean addGenerationPrompt) {
            StringBuilder sb = new StringBuilder();
            if (version == Version.V7) {
                for (Message m : messages) {
                    switch (m.role()) {
                        case "system" -> sb.append("[SYSTEM_PROMPT] ").append(m.content()).append("[/SYSTEM_PROMPT]");
                        case "user" -> sb.append("[INST] ").append(m.content()).append("[/INST]");
                        default -> sb.append(' ').append(m.content()).append("</s>");
                    }
                }
                return sb.toString();
            }
            String lead = version == Version.V1 ? " " : "";
            String trail = version == Version.V3_TEKKEN ? "" : " ";
            boolean insideTurn = false;
            for (Message m : messages) {
                if (!insideTurn) {
                    sb.append(lead).append("[INST]").append(trail);
                    insideTurn = true;
                }
                switch (m.role()) {
                    case "system" -> sb.append(m.content()).append("\n\n");
                    case "user" -> sb.append(m.content()).append(lead).append("[/INST]");
                    default -> {
                        sb.append(trail).append(version == Version.V3 ? trim(m.content()) : m.content()).append("</s>");
                        insideTurn = false;
                    }
                }
            }
            return sb.toString();
        }
    }

    /** {@code <|role|>\ncontent<|end|>\n} per message (Phi-3). */
    record Phi3() implements ChatTemplate {
        @Override
        public String name() {
            return "phi3";
        }

        @Override
        public String render(List<Message> messages, boolean addGenerationPrompt) {
            StringBuilder sb = new StringBuilder();
            for (Message m : messages) {
                sb.append("<|").append(m.role()).append("|>\n").append(m.content()).append("<|end|>\n");
            }
            if (addGenerationPrompt) {
                sb.append("<|assistant|>\n");
            }
            return sb.toString();
        }
    }

    /** Trims ASCII whitespace (C {@code isspace}) at both ends, as llama.cpp's {@code trim} does. */
    static String trim(String s) {
        int a = 0, b = s.length();
        while (a < b && isSpace(s.charAt(a))) {
            a++;
        }
        while (b > a && isSpace(s.charAt(b - 1))) {
            b--;
        }
        return s.substring(a, b);
    }

    private static boolean isSpace(char c) {
        return c == ' ' || (c >= '\t' && c <= '\r');
    }
}
