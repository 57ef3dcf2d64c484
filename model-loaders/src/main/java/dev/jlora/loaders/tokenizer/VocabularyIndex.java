package dev.jlora.loaders.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Lookup structures shared by both tokenizers: text → id, effective token types, the end-of-generation set
 * and the special tokens that are split out of the text before tokenizing. The rules follow llama.cpp's
 * {@code llama_vocab::impl::load} so ids match its output:
 * <ul>
 *   <li>end-of-turn, fill-in-the-middle and end-of-generation tokens found by text ({@code <|eot_id|>},
 *       {@code <|im_end|>}, {@code </s>}, …) become CONTROL, even where the file calls them normal;</li>
 *   <li>end of generation = EOS, EOT, FIM pad/repo/separator and the texts llama.cpp lists, with its
 *       gpt-oss and gemma4 exceptions;</li>
 *   <li>special tokens = CONTROL, USER_DEFINED and UNKNOWN tokens, longest text first.</li>
 * </ul>
 */
final class VocabularyIndex {
    /** Texts llama.cpp takes for the end-of-turn token when the metadata names none. */
    private static final List<String> EOT_TEXTS = List.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
            "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>");
    /** Fill-in-the-middle tokens, which llama.cpp makes CONTROL; the pad/repo/separator ones also end generation. */
    private static final List<String> FIM_TEXTS = List.of("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>",
            "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>", "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
            "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>", "<|fim_middle|>", "<fim-middle>",
            "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>");
    private static final List<String> FIM_EOG_TEXTS = List.of("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]",
            "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>");
    /** Texts llama.cpp treats as end of generation (its {@code special_eog_ids} rule), made CONTROL. */
    private static final List<String> EOG_TEXTS = List.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",
            "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]",
            "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
            "<｜end▁of▁sentence｜>", "[e~[");
    /** gpt-oss tokens llama.cpp always prints (USER_DEFINED). */
    private static final List<String> ALWAYS_PRINTED = List.of("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>");

    final Vocabulary vocab;
    final Map<String, Integer> ids;
    /** Token type per id after the text-based corrections. */
    final int[] types;
    final BitSet endOfGeneration = new BitSet();
    final int eot;
    /** Special-token ids, longest text first (ties by id, so the order is deterministic). */
    private final int[] specials;
    /**
     * Open-addressing table of ids by {@link String#hashCode} of their text, so a range of a longer string can be
     * looked up without copying it out ({@link #id(String, int, int)}); -1 marks empty slots.
     */
    private final int[] slots;

    VocabularyIndex(Vocabulary vocab) {
        this.vocab = vocab;
        int n = vocab.size();
        ids = HashMap.newHashMap(n);
        for (int i = 0; i < n; i++) {
            ids.put(vocab.pieces().get(i), i);  // a repeated text maps to its last id, as in llama.cpp
        }
        slots = new int[Integer.highestOneBit(Math.max(16, n * 2 - 1)) << 1];
        Arrays.fill(slots, -1);
        for (Map.Entry<String, Integer> e : ids.entrySet()) {
            int mask = slots.length - 1;
            int i = spread(e.getKey().hashCode()) & mask;
            while (slots[i] >= 0) {
                i = (i + 1) & mask;
            }
            slots[i] = e.getValue();
        }
        types = new int[n];
        for (int i = 0; i < n; i++) {
            int t = vocab.tokenTypes()[i];
            types[i] = t >= Vocabulary.NORMAL && t <= Vocabulary.BYTE ? t : Vocabulary.UNDEFINED;
        }
        int eotId = vocab.eot();
        if (eotId < 0) {
            eotId = first(EOT_TEXTS);
        }
        eot = eotId;
        if (eot >= 0) {
            makeControl(eot);
        }
        for (String text : FIM_TEXTS) {
            makeControl(id(text));
        }
        for (String text : FIM_EOG_TEXTS) {
            int id = id(text);
            if (id >= 0) {
                makeControl(id);
                endOfGeneration.set(id);
            }
        }
        for (String text : EOG_TEXTS) {
            int id = id(text);
            if (id >= 0) {
                makeControl(id);
                endOfGeneration.set(id);
            }
        }
        for (String text : ALWAYS_PRINTED) {
            int id = id(text);
            if (id >= 0) {
                types[id] = Vocabulary.USER_DEFINED;
            }
        }
        if (vocab.eos() >= 0) {
            endOfGeneration.set(vocab.eos());
        }
        if (eot >= 0) {
            endOfGeneration.set(eot);
        }
        // llama.cpp's workarounds: in o200k_harmony / solar-open vocabularies <|end|> ends a message, not
        // generation; with gemma4's <|tool_response> the </s> token is ordinary text.
        int end = eogId("<|end|>");
        if (end >= 0 && ((eogId("<|return|>") >= 0 && (eogId("<|call|>") >= 0 || eogId("<|calls|>") >= 0))
                || ((eogId("<|call|>") >= 0 || eogId("<|calls|>") >= 0) && eogId("<|flush|>") >= 0))) {
            endOfGeneration.clear(end);
            types[end] = Vocabulary.USER_DEFINED;
        }
        int closeS = eogId("</s>");
        if (closeS >= 0 && eogId("<|tool_response>") >= 0) {
            endOfGeneration.clear(closeS);
            types[closeS] = Vocabulary.NORMAL;
        }
        List<Integer> special = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (isSpecialType(types[i]) && !vocab.pieces().get(i).isEmpty()) {
                special.add(i);
            }
        }
        special.sort((a, b) -> {
            int byLength = Integer.compare(vocab.pieces().get(b).length(), vocab.pieces().get(a).length());
            return byLength != 0 ? byLength : Integer.compare(a, b);
        });
        specials = special.stream().mapToInt(Integer::intValue).toArray();
    }

    private int first(List<String> texts) {
        for (String text : texts) {
            int id = id(text);
            if (id >= 0) {
                return id;
            }
        }
        return -1;
    }

    /** The id of text when it ends generation, else -1. */
    private int eogId(String text) {
        int id = id(text);
        return id >= 0 && endOfGeneration.get(id) ? id : -1;
    }

    private void makeControl(int id) {
        // llama.cpp: "control-looking token … was not control-type; its type will be overridden". Its
        // attributes are bit flags (USER_DEFINED|CONTROL acts as CONTROL), so replacing the type is equivalent.
        if (id >= 0 && types[id] != Vocabulary.CONTROL && types[id] != Vocabulary.UNKNOWN) {
            types[id] = Vocabulary.CONTROL;
        }
    }

    private static boolean isSpecialType(int t) {
        return t == Vocabulary.CONTROL || t == Vocabulary.USER_DEFINED || t == Vocabulary.UNKNOWN;
    }

    int id(String text) {
        Integer id = ids.get(text);
        return id == null ? -1 : id;
    }

    /** The id whose text equals {@code text[start, end)}, or -1; allocates nothing. */
    int id(String text, int start, int end) {
        int h = 0;
        for (int i = start; i < end; i++) {
            h = 31 * h + text.charAt(i);  // String.hashCode of the range
        }
        int len = end - start;
        int mask = slots.length - 1;
        for (int i = spread(h) & mask; slots[i] >= 0; i = (i + 1) & mask) {
            String piece = vocab.pieces().get(slots[i]);
            if (piece.length() == len && piece.hashCode() == h && text.regionMatches(start, piece, 0, len)) {
                return slots[i];
            }
        }
        return -1;
    }

    private static int spread(int h) {
        return (h ^ (h >>> 16)) * 0x9E3779B9;
    }

    /**
     * Splits {@code text} into runs of plain text and special tokens, the way llama.cpp's
     * {@code tokenizer_st_partition} does: for each special token, longest first, every occurrence in every
     * remaining text run becomes that token. User-defined tokens are always split out; CONTROL and UNKNOWN
     * tokens only with {@code parseSpecial} (Hugging Face tokenizers behaves the same way).
     *
     * @return fragments as triples (token, start, end): token ≥ 0 for a special token, -1 for text[start, end)
     */
    IntList partition(String text, boolean parseSpecial) {
        IntList frags = new IntList(8);
        if (text.isEmpty()) {
            return frags;
        }
        frags.add(-1);
        frags.add(0);
        frags.add(text.length());
        for (int id : specials) {
            int t = types[id];
            if (!parseSpecial && t != Vocabulary.USER_DEFINED) {
                continue;
            }
            String piece = vocab.pieces().get(id);
            IntList next = null;
            for (int f = 0; f < frags.size(); f += 3) {
                int tok = frags.get(f), start = frags.get(f + 1), end = frags.get(f + 2);
                int at = tok < 0 ? indexOf(text, piece, start, end) : -1;
                if (at < 0) {
                    if (next != null) {
                        next.add(tok);
                        next.add(start);
                        next.add(end);
                    }
                    continue;
                }
                if (next == null) {
                    next = new IntList(frags.size() + 6);
                    for (int g = 0; g < f; g++) {
                        next.add(frags.get(g));
                    }
                }
                int strip = vocab.strip() == null ? 0 : vocab.strip()[id];
                while (at >= 0) {
                    int leftEnd = at;
                    if ((strip & Vocabulary.STRIP_LEFT) != 0) {
                        while (leftEnd > start && isSpace(text.charAt(leftEnd - 1))) {
                            leftEnd--;
                        }
                    }
                    if (leftEnd > start) {
                        next.add(-1);
                        next.add(start);
                        next.add(leftEnd);
                    }
                    next.add(id);
                    next.add(at);
                    next.add(at + piece.length());
                    start = at + piece.length();
                    if ((strip & Vocabulary.STRIP_RIGHT) != 0) {
                        while (start < end && isSpace(text.charAt(start))) {
                            start++;
                        }
                    }
                    at = indexOf(text, piece, start, end);
                }
                if (start < end) {
                    next.add(-1);
                    next.add(start);
                    next.add(end);
                }
            }
            if (next != null) {
                frags = next;
            }
        }
        return frags;
    }

    /** C {@code isspace}, which llama.cpp's strip uses. */
    private static boolean isSpace(char c) {
        return c == ' ' || (c >= '\t' && c <= '\r');
    }

    /** First occurrence of {@code piece} inside text[from, to), or -1. */
    private static int indexOf(String text, String piece, int from, int to) {
        return text.indexOf(piece, from, to);  // bounded search (JDK 21), so many fragments stay linear
    }

}
