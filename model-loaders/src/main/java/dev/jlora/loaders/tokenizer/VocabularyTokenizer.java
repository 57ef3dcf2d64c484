package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.tokenizer.ChatTemplate;
import dev.jlora.engine.tokenizer.Tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * What the two tokenizer algorithms share: special-token splitting, BOS/EOS handling, the id → bytes
 * table and the chat template. Subclasses encode one run of plain text.
 */
abstract sealed class VocabularyTokenizer implements Tokenizer permits SentencePieceTokenizer, ByteLevelBpeTokenizer {
    final Vocabulary vocab;
    final VocabularyIndex index;
    private final ChatTemplate chatTemplate;
    /** Bytes of each token as {@link #tokenBytes} returns them; filled by {@link #fillBytes} at the end of the subclass constructor. */
    private final byte[][] bytes;

    VocabularyTokenizer(Vocabulary vocab, ChatTemplate chatTemplate) {
        this.vocab = vocab;
        this.index = new VocabularyIndex(vocab);
        this.chatTemplate = chatTemplate != null ? chatTemplate : ChatTemplates.forVocabulary(vocab);
        this.bytes = new byte[vocab.size()][];
    }

    /** Appends the tokens of one run of plain text (no special tokens in it); {@code afterSpecial}: it starts the text or follows a special token. */
    abstract void encodeText(String text, boolean afterSpecial, IntList out);

    /** The bytes token {@code id} stands for (see {@link #tokenBytes}). */
    abstract byte[] computeBytes(int id);

    /** Computes the id → bytes table; subclasses call it last in their constructor, once their own fields are set. */
    final void fillBytes() {
        for (int id = 0; id < bytes.length; id++) {
            bytes[id] = computeBytes(id);
        }
    }

    @Override
    public final int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        IntList out = new IntList(text.length() / 3 + 4);
        if (addSpecial && vocab.addBos()) {
            out.add(vocab.bos());
        }
        IntList frags = index.partition(text, parseSpecial);
        boolean afterSpecial = true;
        for (int f = 0; f < frags.size(); f += 3) {
            int token = frags.get(f);
            if (token >= 0) {
                out.add(token);
                afterSpecial = true;
            } else {
                encodeText(text.substring(frags.get(f + 1), frags.get(f + 2)), afterSpecial, out);
                afterSpecial = false;
            }
        }
        if (addSpecial && vocab.addEos()) {
            out.add(vocab.eos());
        }
        return out.toArray();
    }

    @Override
    public final byte[] tokenBytes(int id) {
        checkId(id);
        return bytes[id].clone();
    }

    @Override
    public final String decode(int[] ids) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream(ids.length * 4);
        for (int id : ids) {
            checkId(id);
            buf.writeBytes(bytes[id]);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    private void checkId(int id) {
        if (id < 0 || id >= vocab.size()) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + vocab.size() + " tokens");
        }
    }

    /** Control and unknown tokens decode to nothing, user-defined tokens to their text (llama.cpp {@code token_to_piece}, special = false). */
    final byte[] specialBytes(int id) {
        int t = index.types[id];
        if (t == Vocabulary.CONTROL || t == Vocabulary.UNKNOWN) {
            return new byte[0];
        }
        if (t == Vocabulary.USER_DEFINED) {
            return vocab.pieces().get(id).getBytes(StandardCharsets.UTF_8);
        }
        return null;
    }

    /** The byte of a {@code <0xNN>} piece, or -1. */
    static int byteOfPiece(String piece) {
        if (piece.length() == 6 && piece.startsWith("<0x") && piece.charAt(5) == '>') {
            int hi = Character.digit(piece.charAt(3), 16), lo = Character.digit(piece.charAt(4), 16);
            if (hi >= 0 && lo >= 0) {
                return hi * 16 + lo;
            }
        }
        return -1;
    }

    @Override
    public final int vocabSize() {
        return vocab.size();
    }

    @Override
    public final int bos() {
        return vocab.bos();
    }

    @Override
    public final int eos() {
        return vocab.eos();
    }

    @Override
    public final boolean isEndOfGeneration(int id) {
        return id >= 0 && index.endOfGeneration.get(id);
    }

    @Override
    public final ChatTemplate chatTemplate() {
        return chatTemplate;
    }

    /** The plain data this tokenizer was built from. */
    public final Vocabulary vocabulary() {
        return vocab;
    }
}
