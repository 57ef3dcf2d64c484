package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.tokenizer.ChatTemplate;

import java.nio.charset.StandardCharsets;

/**
 * SentencePiece BPE as llama.cpp runs it for {@code tokenizer.ggml.model = "llama"} ({@code llm_tokenizer_spm}):
 * spaces become {@code ▁} (U+2581), a space is prepended at the start of the text and after each special
 * token when the vocabulary says so (SentencePiece's {@code add_dummy_prefix}), then adjacent symbols are
 * merged greedily — always the pair whose merged piece has the highest score, leftmost first on ties —
 * until no adjacent pair forms a piece. Symbols that are not pieces fall back to {@code <0xNN>} byte tokens
 * (then to the unknown token when the vocabulary has no byte tokens).
 *
 * <p>Cost: O(n log n) in the text length: one queue entry (score, left, right, merged length — the length
 * spots entries made stale by a later merge) per candidate pair, and no string copies for lookups.
 */
final class SentencePieceTokenizer extends VocabularyTokenizer {
    private static final char SPACE = '\u2581';

    /** Token of each byte value for byte fallback, -1 when there is none. */
    private final int[] byteTokens = new int[256];
    /**
     * BMP characters that occur in no piece longer than one char (in llama's vocabulary: '\n', '\t', …). A pair
     * containing one is never a piece, so such a character never merges and the text can be tokenized run by
     * run between them with the same result — a smaller queue per run instead of one over the whole text.
     */
    private final boolean[] barrier = new boolean[Character.MAX_VALUE + 1];

    SentencePieceTokenizer(Vocabulary vocab, ChatTemplate chatTemplate) {
        super(vocab, chatTemplate);
        if (vocab.model() != Vocabulary.Model.SPM) {
            throw new IllegalArgumentException("SentencePieceTokenizer needs an SPM vocabulary, got " + vocab.model());
        }
        for (int b = 0; b < 256; b++) {
            int id = index.id(String.format("<0x%02X>", b));
            if (id < 0 && b < 0x80) {
                id = index.id(String.valueOf((char) b));  // llama.cpp byte_to_token falls back to the character itself
            }
            byteTokens[b] = id;
        }
        java.util.Arrays.fill(barrier, true);
        for (String piece : vocab.pieces()) {
            if (piece.length() > 1) {
                for (int i = 0; i < piece.length(); i++) {
                    barrier[piece.charAt(i)] = false;
                }
            }
        }
        for (char c = Character.MIN_SURROGATE; c <= Character.MAX_SURROGATE; c++) {
            barrier[c] = false;  // half of a code point, never a symbol of its own
        }
        fillBytes();
    }

    @Override
    void encodeText(String raw, boolean afterSpecial, IntList out) {
        String text = (vocab.addSpacePrefix() && afterSpecial ? " " + raw : raw).replace(' ', SPACE);
        int runStart = 0;
        for (int i = 0; i < text.length(); i++) {
            if (barrier[text.charAt(i)]) {
                encodeRun(text, runStart, i, out);
                emit(text, i, i + 1, out);
                runStart = i + 1;
            }
        }
        encodeRun(text, runStart, text.length(), out);
    }

    /** llama.cpp's {@code llm_tokenizer_spm_session::tokenize} on text[from, to). */
    private void encodeRun(String text, int from, int to, IntList out) {
        int n = to - from;
        if (n == 0) {
            return;
        }
        // Symbols are code points: start offset and length in chars, linked into a list.
        int[] start = new int[n], len = new int[n], prev = new int[n], next = new int[n];
        int count = 0;
        for (int i = from; i < to; ) {
            int cl = Character.charCount(text.codePointAt(i));
            start[count] = i;
            len[count] = Math.min(cl, to - i);
            prev[count] = count - 1;
            next[count] = i + cl >= to ? -1 : count + 1;
            count++;
            i += cl;
        }
        BigramQueue queue = new BigramQueue(count);
        for (int i = 1; i < count; i++) {
            tryAddBigram(text, start, len, i - 1, i, queue);
        }
        while (!queue.isEmpty()) {
            queue.poll();
            int l = queue.left, r = queue.right;
            if (len[l] == 0 || len[r] == 0 || len[l] + len[r] != queue.a) {
                continue;  // one side was merged away since this pair was queued
            }
            len[l] += len[r];
            len[r] = 0;
            next[l] = next[r];
            if (next[r] >= 0) {
                prev[next[r]] = l;
            }
            tryAddBigram(text, start, len, prev[l], l, queue);
            tryAddBigram(text, start, len, l, next[l], queue);
        }
        for (int i = 0; i != -1; i = next[i]) {
            emit(text, start[i], start[i] + len[i], out);
        }
    }

    /** The piece text[from, to) if it is one, else its bytes' fallback tokens. */
    private void emit(String text, int from, int to, IntList out) {
        int id = index.id(text, from, to);
        if (id >= 0) {
            out.add(id);
        } else {
            String piece = text.substring(from, to);
            for (byte b : piece.getBytes(StandardCharsets.UTF_8)) {
                out.add(byteToken(b & 0xFF, piece));
            }
        }
    }

    private void tryAddBigram(String text, int[] start, int[] len, int left, int right, BigramQueue queue) {
        if (left < 0 || right < 0) {
            return;
        }
        int length = len[left] + len[right];
        int id = index.id(text, start[left], start[left] + length);
        if (id >= 0) {
            queue.add(vocab.scores()[id], left, right, length, 0);
        }
    }

    /**
     * The first byte value that text outside the vocabulary could not be encoded with (no {@code <0xXX>} piece and
     * no unknown token), or −1 when every text can be encoded.
     */
    int firstUnencodableByte() {
        if (vocab.unk() >= 0) {
            return -1;
        }
        for (int b = 0; b < 256; b++) {
            if (byteTokens[b] < 0) {
                return b;
            }
        }
        return -1;
    }

    private int byteToken(int b, String piece) {
        int id = byteTokens[b];
        if (id >= 0) {
            return id;
        }
        if (vocab.unk() >= 0) {
            return vocab.unk();
        }
        throw new IllegalArgumentException(String.format(
                "cannot encode byte 0x%02X of '%s': the vocabulary has no <0x%02X> piece and no unknown token", b, piece, b));
    }

    @Override
    byte[] computeBytes(int id) {
        byte[] special = specialBytes(id);
        if (special != null) {
            return special;
        }
        String piece = vocab.pieces().get(id);
        return switch (index.types[id]) {
            case Vocabulary.NORMAL -> piece.replace(SPACE, ' ').getBytes(StandardCharsets.UTF_8);
            case Vocabulary.BYTE -> {
                int b = byteOfPiece(piece);
                yield b >= 0 ? new byte[] {(byte) b} : new byte[0];
            }
            default -> new byte[0];  // unused / undefined pieces print nothing, as in llama.cpp
        };
    }
}
