package dev.jlora.engine.tokenizer;

/**
 * Text ↔ token ids, byte-exact with the reference tokenizer of the model family.
 * Implementations live in model-loaders (SentencePiece-BPE, byte-level BPE).
 */
public interface Tokenizer {
    /**
     * Token ids of {@code text}.
     *
     * @param addSpecial    prepend BOS (and whatever else the model adds) as the model's metadata says
     * @param parseSpecial  recognise special-token text such as {@code <|im_start|>} as single tokens
     */
    int[] encode(String text, boolean addSpecial, boolean parseSpecial);

    /** The raw bytes a token stands for (byte-fallback tokens give their single byte; control tokens give none). */
    byte[] tokenBytes(int id);

    /** Text of a whole id sequence (UTF-8 decoded after concatenating token bytes). */
    String decode(int[] ids);

    int vocabSize();

    /** Beginning-of-sequence id, or -1. */
    int bos();

    /** End-of-sequence id, or -1. */
    int eos();

    /** True for ids that end generation (EOS, end-of-turn tokens such as {@code <|eot_id|>}). */
    boolean isEndOfGeneration(int id);

    /** The chat template of the model's family, for rendering conversations. */
    ChatTemplate chatTemplate();
}
