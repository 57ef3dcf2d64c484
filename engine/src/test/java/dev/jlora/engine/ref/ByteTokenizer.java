package dev.jlora.engine.ref;

import dev.jlora.engine.tokenizer.ChatTemplate;
import dev.jlora.engine.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * A byte-level test tokenizer: 0 unk, 1 BOS, 2 EOS, 3..258 the bytes, then the specials {@code <|user|>} 259,
 * {@code <|assistant|>} 260, {@code <|end|>} 261, {@code <|system|>} 262. Its chat template writes each turn as
 * {@code <|role|>content<|end|>}.
 */
public final class ByteTokenizer implements Tokenizer {
    public static final int VOCAB = 263;
    private static final String[] SPECIALS = {"<|user|>", "<|assistant|>", "<|end|>", "<|system|>"};

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        var ids = new java.util.ArrayList<Integer>();
        if (addSpecial) {
            ids.add(1);
        }
        int i = 0;
        outer:
        while (i < text.length()) {
            if (parseSpecial) {
                for (int s = 0; s < SPECIALS.length; s++) {
                    if (text.startsWith(SPECIALS[s], i)) {
                        ids.add(259 + s);
                        i += SPECIALS[s].length();
                        continue outer;
                    }
                }
            }
            int cp = text.codePointAt(i);
            for (byte b : new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8)) {
                ids.add((b & 0xFF) + 3);
            }
            i += Character.charCount(cp);
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    @Override
    public byte[] tokenBytes(int id) {
        if (id >= 3 && id < 259) {
            return new byte[] {(byte) (id - 3)};
        }
        return id >= 259 && id < VOCAB ? SPECIALS[id - 259].getBytes(StandardCharsets.UTF_8) : new byte[0];
    }

    @Override
    public String decode(int[] ids) {
        var out = new ByteArrayOutputStream();
        for (int id : ids) {
            out.writeBytes(tokenBytes(id));
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Override
    public int vocabSize() {
        return VOCAB;
    }

    @Override
    public int bos() {
        return 1;
    }

    @Override
    public int eos() {
        return 2;
    }

    @Override
    public boolean isEndOfGeneration(int id) {
        return id == 2 || id == 261;
    }

    @Override
    public ChatTemplate chatTemplate() {
        return new ChatTemplate() {
            @Override
            public String name() {
                return "test";
            }

            @Override
            public String render(List<Message> messages, boolean addGenerationPrompt) {
                var sb = new StringBuilder();
                for (Message m : messages) {
                    sb.append("<|").append(m.role()).append("|>").append(m.content()).append("<|end|>");
                }
                return addGenerationPrompt ? sb.append("<|assistant|>").toString() : sb.toString();
            }
        };
    }
}
