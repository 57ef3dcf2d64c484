package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.tokenizer.ChatTemplate;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Byte-level BPE (GPT-2, Llama 3, Qwen2) as llama.cpp runs it ({@code llm_tokenizer_bpe_session}): the text
 * is cut into words by the model's pre-tokenizer, each word's UTF-8 bytes are spelled in GPT-2's
 * byte-to-unicode alphabet, and adjacent symbols are merged by the rank of their pair in the merge list
 * (lowest rank first, leftmost on ties). A finished symbol that is not in the vocabulary is emitted as its
 * single-byte tokens.
 *
 * <p>Symbols and merges work on interned ids: every vocabulary text has its id, and merge parts or results
 * that are not in the vocabulary get extra ids after it, so a merge lookup is one long-keyed probe.
 */
final class ByteLevelBpeTokenizer extends VocabularyTokenizer {
    private final BpePreTokenizer preTokenizer;
    /** Texts of interned ids ≥ vocabulary size (merge parts and results that are not tokens). */
    private final List<String> extraTexts = new ArrayList<>();
    private final Map<String, Integer> extraIds = new HashMap<>();
    /** (left id, right id) → merge rank. */
    private final LongIntMap rank;
    /** Merged id by rank. */
    private final int[] mergedId;
    /** Interned id of the one-character symbol for each byte. */
    private final int[] byteSymbol = new int[256];

    ByteLevelBpeTokenizer(Vocabulary vocab, BpePreTokenizer preTokenizer, ChatTemplate chatTemplate) {
        super(vocab, chatTemplate);
        if (vocab.model() != Vocabulary.Model.BPE) {
            throw new IllegalArgumentException("ByteLevelBpeTokenizer needs a BPE vocabulary, got " + vocab.model());
        }
        this.preTokenizer = preTokenizer;
        List<String> merges = vocab.merges();
        if (merges.size() > 1 << 24) {
            throw new IllegalArgumentException(merges.size() + " merges; at most 2^24 are supported (ranks are queued as exact floats)");
        }
        rank = new LongIntMap(merges.size());
        mergedId = new int[merges.size()];
        for (int r = 0; r < merges.size(); r++) {
            String m = merges.get(r);
            // llama.cpp splits at the first space after the first character, so a merge may start with a space.
            int sp = m.indexOf(' ', 1);
            if (sp < 0) {
                throw new IllegalArgumentException("merge " + r + " '" + m + "' is not two pieces separated by a space");
            }
            String left = m.substring(0, sp), right = m.substring(sp + 1);
            if (rank.putIfAbsent(key(intern(left), intern(right)), r)) {
                mergedId[r] = intern(left + right);
            }
        }
        for (int b = 0; b < 256; b++) {
            byteSymbol[b] = intern(String.valueOf(ByteUnicode.encode(b)));
        }
        fillBytes();
    }

    private int intern(String text) {
        int id = index.id(text);
        if (id >= 0) {
            return id;
        }
        Integer extra = extraIds.get(text);
        if (extra == null) {
            extra = vocab.size() + extraTexts.size();
            extraTexts.add(text);
            extraIds.put(text, extra);
        }
        return extra;
    }

    private static long key(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    @Override
    void encodeText(String text, boolean afterSpecial, IntList out) {
        int[] cps = text.codePoints().toArray();
        IntList ends = new IntList(cps.length / 3 + 2);
        preTokenizer.split(cps, cps.length, ends);
        StringBuilder word = new StringBuilder();
        int from = 0;
        for (int w = 0; w < ends.size(); w++) {
            int to = ends.get(w);
            word.setLength(0);
            for (byte b : new String(cps, from, to - from).getBytes(StandardCharsets.UTF_8)) {
                word.append(ByteUnicode.encode(b));
            }
            from = to;
            encodeWord(word, out);
        }
    }

    private void encodeWord(CharSequence word, IntList out) {
        int n = word.length();
        if (preTokenizer.ignoresMerges()) {
            int whole = index.id(word.toString());
            if (whole >= 0) {
                out.add(whole);
                return;
            }
        }
        // One symbol per byte (each alphabet character is one byte), linked into a list.
        int[] sym = new int[n], prev = new int[n], next = new int[n];
        for (int i = 0; i < n; i++) {
            sym[i] = byteSymbol[ByteUnicode.decode(word.charAt(i))];
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        BigramQueue queue = new BigramQueue(n);
        for (int i = 1; i < n; i++) {
            addBigram(sym, i - 1, i, queue);
        }
        while (!queue.isEmpty()) {
            queue.poll();
            int l = queue.left, r = queue.right;
            if (sym[l] != queue.a || sym[r] != queue.b) {
                continue;  // stale: one side changed since this pair was queued
            }
            sym[l] = mergedId[(int) -queue.priority];
            sym[r] = -1;
            next[l] = next[r];
            if (next[r] >= 0) {
                prev[next[r]] = l;
            }
            addBigram(sym, prev[l], l, queue);
            addBigram(sym, l, next[l], queue);
        }
        for (int i = 0; i != -1; i = next[i]) {
            int id = sym[i];
            if (id < vocab.size()) {
                out.add(id);
            } else {
                // Not a token: emit its characters' single-byte tokens, skipping any the vocabulary lacks (llama.cpp).
                String text = extraTexts.get(id - vocab.size());
                for (int c = 0; c < text.length(); c++) {
                    int one = index.id(String.valueOf(text.charAt(c)));
                    if (one >= 0) {
                        out.add(one);
                    }
                }
            }
        }
    }

    private void addBigram(int[] sym, int left, int right, BigramQueue queue) {
        if (left < 0 || right < 0) {
            return;
        }
        int r = rank.get(key(sym[left], sym[right]));
        if (r >= 0) {
            queue.add(-r, left, right, sym[left], sym[right]);  // lower rank first; ranks < 2^24 are exact floats
        }
    }

    @Override
    byte[] computeBytes(int id) {
        byte[] special = specialBytes(id);
        if (special != null) {
            return special;
        }
        String piece = vocab.pieces().get(id);
        return switch (index.types[id]) {
            case Vocabulary.NORMAL -> {
                ByteArrayOutputStream buf = new ByteArrayOutputStream(piece.length());
                piece.codePoints().forEach(c -> {
                    int b = ByteUnicode.decode(c);
                    if (b >= 0) {
                        buf.write(b);
                    } else {
                        // Not in the byte alphabet (a hand-added token): keep the character itself.
                        buf.writeBytes(new String(Character.toChars(c)).getBytes(StandardCharsets.UTF_8));
                    }
                });
                yield buf.toByteArray();
            }
            case Vocabulary.BYTE -> {
                int b = byteOfPiece(piece);
                yield b >= 0 ? new byte[] {(byte) b} : new byte[0];
            }
            default -> new byte[0];
        };
    }
}
