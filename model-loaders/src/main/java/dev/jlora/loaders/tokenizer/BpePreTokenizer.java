package dev.jlora.loaders.tokenizer;

import java.util.Locale;

/**
 * The regex pre-tokenizers of byte-level BPE models, as llama.cpp runs them: not through a regex engine
 * but with the hand-written scanners in {@code unicode.cpp} ({@code unicode_regex_split_custom_gpt2},
 * {@code _llama3}, {@code _qwen2}), whose results are the reference for the vocab tests. Each scanner
 * follows its regex alternative by alternative, longest match first, over code points:
 * <ul>
 *   <li>GPT-2: {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+}</li>
 *   <li>Llama 3: {@code (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+}</li>
 *   <li>Qwen2: as Llama 3 but {@code \p{N}} (one digit per word).</li>
 * </ul>
 * Character classes: letters are Unicode categories L*, numbers N* (so '½' is a number), whitespace is the
 * Unicode White_Space set that llama.cpp lists ({@code unicode_set_whitespace}).
 */
enum BpePreTokenizer {
    GPT2, LLAMA3, QWEN2;

    /**
     * The pre-tokenizer for a GGUF {@code tokenizer.ggml.pre} name, following llama.cpp's
     * {@code llama_vocab::impl::load}; null when the name is not one of the supported families.
     */
    static BpePreTokenizer forName(String pre) {
        if (pre == null) {
            return null;
        }
        return switch (pre.toLowerCase(Locale.ROOT)) {
            case "gpt-2", "gpt2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
                 "mellum", "modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais",
                 "trillion", "granite-docling" -> GPT2;
            case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                 "jina-v5-nano" -> LLAMA3;
            case "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2", "hunyuan", "solar-open", "grok-2" -> QWEN2;
            default -> null;
        };
    }

    /** llama.cpp sets {@code ignore_merges} for Llama 3: a word that is itself a token is emitted whole. */
    boolean ignoresMerges() {
        return this == LLAMA3;
    }

    /** Word boundaries of {@code cps[0..n)}: the exclusive end offset of each word, appended to {@code ends}. */
    void split(int[] cps, int n, IntList ends) {
        switch (this) {
            case GPT2 -> splitGpt2(cps, n, ends);
            case LLAMA3 -> splitLlama3(cps, n, ends, 3);
            case QWEN2 -> splitLlama3(cps, n, ends, 1);
        }
    }

    // Character classes over a bounded window: positions outside [0, n) have no class at all, which is what
    // ends a run at the fragment boundary (llama.cpp returns empty flags there).
    private static final int OUT = -1;

    private static int cp(int[] cps, int n, int i) {
        return i < n ? cps[i] : OUT;
    }

    private static boolean isLetter(int[] cps, int n, int i) {
        return i < n && isLetter(cps[i]);
    }

    private static boolean isNumber(int[] cps, int n, int i) {
        return i < n && isNumber(cps[i]);
    }

    private static boolean isSpace(int[] cps, int n, int i) {
        return i < n && isWhitespace(cps[i]);
    }

    /** {@code [^\s\p{L}\p{N}]} at i, inside the window. */
    private static boolean isOther(int[] cps, int n, int i) {
        return i < n && !isWhitespace(cps[i]) && !isLetter(cps[i]) && !isNumber(cps[i]);
    }

    static boolean isLetter(int c) {
        return switch (Character.getType(c)) {
            case Character.UPPERCASE_LETTER, Character.LOWERCASE_LETTER, Character.TITLECASE_LETTER,
                 Character.MODIFIER_LETTER, Character.OTHER_LETTER -> true;
            default -> false;
        };
    }

    static boolean isNumber(int c) {
        return switch (Character.getType(c)) {
            case Character.DECIMAL_DIGIT_NUMBER, Character.LETTER_NUMBER, Character.OTHER_NUMBER -> true;
            default -> false;
        };
    }

    /** Unicode White_Space, the set llama.cpp's {@code \s} means. */
    static boolean isWhitespace(int c) {
        return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680
                || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F
                || c == 0x3000;
    }

    /** Length of a contraction ('s 't 'm 'd 're 've 'll) starting at i, or 0. */
    private static int contraction(int[] cps, int n, int i, boolean ignoreCase) {
        if (cps[i] != '\'' || i + 1 >= n) {
            return 0;
        }
        int c1 = lower(cps[i + 1], ignoreCase);
        if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
            return 2;
        }
        if (i + 2 < n) {
            int c2 = lower(cps[i + 2], ignoreCase);
            if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
                return 3;
            }
        }
        return 0;
    }

    private static int lower(int c, boolean ignoreCase) {
        return ignoreCase ? Character.toLowerCase(c) : c;
    }

    private static void splitGpt2(int[] cps, int n, IntList ends) {
        int pos = 0;
        while (pos < n) {
            int c = cps[pos];
            int k = contraction(cps, n, pos, false);
            if (k > 0) {
                pos += k;
                ends.add(pos);
                continue;
            }
            // " ?X+" alternatives: the optional space belongs to the run that follows it.
            int q = c == ' ' ? pos + 1 : pos;
            if (isLetter(cps, n, q)) {
                pos = q;
                while (isLetter(cps, n, pos)) {
                    pos++;
                }
                ends.add(pos);
                continue;
            }
            if (isNumber(cps, n, q)) {
                pos = q;
                while (isNumber(cps, n, pos)) {
                    pos++;
                }
                ends.add(pos);
                continue;
            }
            if (isOther(cps, n, q)) {
                pos = q;
                while (isOther(cps, n, pos)) {
                    pos++;
                }
                ends.add(pos);
                continue;
            }
            int spaces = 0;
            while (isSpace(cps, n, pos + spaces)) {
                spaces++;
            }
            if (spaces > 1 && pos + spaces < n) {
                // \s+(?!\S): leave the last space to prefix the next word.
                pos += spaces - 1;
                ends.add(pos);
                continue;
            }
            if (spaces > 0) {
                pos += spaces;
                ends.add(pos);
                continue;
            }
            ends.add(++pos);
        }
    }

    /** Llama 3 ({@code maxDigits} 3) and Qwen2 ({@code maxDigits} 1). */
    private static void splitLlama3(int[] cps, int n, IntList ends, int maxDigits) {
        int pos = 0;
        while (pos < n) {
            int c = cps[pos];
            int k = contraction(cps, n, pos, true);
            if (k > 0) {
                pos += k;
                ends.add(pos);
                continue;
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if (!(c == '\r' || c == '\n' || isNumber(c)) && (isLetter(c) || isLetter(cps, n, pos + 1))) {
                pos++;
                while (isLetter(cps, n, pos)) {
                    pos++;
                }
                ends.add(pos);
                continue;
            }
            // \p{N}{1,maxDigits}
            if (isNumber(c)) {
                int start = pos;
                while (isNumber(cps, n, pos) && pos - start < maxDigits) {
                    pos++;
                }
                ends.add(pos);
                continue;
            }
            // " ?[^\s\p{L}\p{N}]+[\r\n]*"
            int q = c == ' ' ? pos + 1 : pos;
            if (isOther(cps, n, q)) {
                pos = q;
                while (isOther(cps, n, pos)) {
                    pos++;
                }
                while (cp(cps, n, pos) == '\r' || cp(cps, n, pos) == '\n') {
                    pos++;
                }
                ends.add(pos);
                continue;
            }
            int spaces = 0;
            int lastNewlineEnd = 0;
            while (isSpace(cps, n, pos + spaces)) {
                int c2 = cps[pos + spaces];
                if (c2 == '\r' || c2 == '\n') {
                    lastNewlineEnd = pos + spaces + 1;
                }
                spaces++;
            }
            if (lastNewlineEnd > 0) {
                // \s*[\r\n]+ : whitespace up to and including the last line break.
                pos = lastNewlineEnd;
                ends.add(pos);
                continue;
            }
            if (spaces > 1 && pos + spaces < n) {
                pos += spaces - 1;
                ends.add(pos);
                continue;
            }
            if (spaces > 0) {
                pos += spaces;
                ends.add(pos);
                continue;
            }
            ends.add(++pos);
        }
    }
}
