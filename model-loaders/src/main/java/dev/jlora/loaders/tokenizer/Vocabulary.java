package dev.jlora.loaders.tokenizer;

import java.util.List;
import java.util.Objects;

/**
 * Everything a tokenizer is built from, as plain data, whatever file it came from (GGUF metadata,
 * SentencePiece {@code tokenizer.model}, llama2.c {@code .bin}, Hugging Face {@code tokenizer.json}).
 *
 * <p>Token types use the numbering shared by GGUF {@code tokenizer.ggml.token_type} and SentencePiece's
 * {@code ModelProto.SentencePiece.Type}: {@link #NORMAL} 1, {@link #UNKNOWN} 2, {@link #CONTROL} 3,
 * {@link #USER_DEFINED} 4, {@link #UNUSED} 5, {@link #BYTE} 6 (0 = undefined).
 *
 * <p>The arrays are not copied (vocabularies are large); treat them as read-only once built.
 *
 * @param model          which algorithm: SentencePiece-BPE (scores) or byte-level BPE (merge ranks)
 * @param pieces         token text by id; for {@link Model#SPM} spaces are written {@code ▁} (U+2581) and byte
 *                       tokens {@code <0xNN>}; for {@link Model#BPE} text is in GPT-2's byte-to-unicode alphabet
 * @param scores         SentencePiece scores by id (higher merges first); zeros for BPE
 * @param tokenTypes     token type by id (see above)
 * @param merges         BPE merges in rank order, each "left right"; empty for SPM
 * @param preTokenizer   llama.cpp pre-tokenizer name for BPE ({@code tokenizer.ggml.pre}: "gpt-2", "llama-bpe", "qwen2", …)
 * @param bos            beginning-of-sequence id or -1
 * @param eos            end-of-sequence id or -1
 * @param unk            unknown-token id or -1
 * @param eot            end-of-turn id or -1 (found by text when -1, as llama.cpp does)
 * @param addBos         encode(addSpecial = true) prepends BOS
 * @param addEos         encode(addSpecial = true) appends EOS
 * @param addSpacePrefix SPM: prepend a space (the "dummy prefix") to text at the start and after special tokens
 * @param chatTemplate   the Jinja chat template text shipped with the model, or null
 * @param strip          per id, {@link #STRIP_LEFT} / {@link #STRIP_RIGHT}: when this special token is split out of
 *                       the text, whitespace before / after it is dropped (Hugging Face {@code lstrip}/{@code rstrip},
 *                       llama.cpp {@code LLAMA_TOKEN_ATTR_LSTRIP/RSTRIP}); null when no token strips
 */
public record Vocabulary(
        Model model,
        List<String> pieces,
        float[] scores,
        int[] tokenTypes,
        List<String> merges,
        String preTokenizer,
        int bos,
        int eos,
        int unk,
        int eot,
        boolean addBos,
        boolean addEos,
        boolean addSpacePrefix,
        String chatTemplate,
        int[] strip) {

    public static final int UNDEFINED = 0;
    public static final int NORMAL = 1;
    public static final int UNKNOWN = 2;
    public static final int CONTROL = 3;
    public static final int USER_DEFINED = 4;
    public static final int UNUSED = 5;
    public static final int BYTE = 6;

    public static final int STRIP_LEFT = 1;
    public static final int STRIP_RIGHT = 2;

    /** The two tokenizer algorithms llama-family models use. */
    public enum Model {
        /** SentencePiece BPE: merge the adjacent pair whose merged piece has the highest score (llama.cpp {@code llm_tokenizer_spm}). */
        SPM,
        /** Byte-level BPE: pre-tokenize with a regex, map bytes to unicode, merge by rank (llama.cpp {@code llm_tokenizer_bpe}). */
        BPE
    }

    /**
     * Checks the invariants every tokenizer relies on; the loaders report file-specific problems before
     * building a record, so a violation here names only the field.
     */
    public Vocabulary {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(pieces, "pieces");
        Objects.requireNonNull(scores, "scores");
        Objects.requireNonNull(tokenTypes, "tokenTypes");
        merges = merges == null ? List.of() : merges;
        int n = pieces.size();
        if (n == 0) {
            throw new IllegalArgumentException("vocabulary has no tokens");
        }
        if (scores.length != n || tokenTypes.length != n) {
            throw new IllegalArgumentException("vocabulary has " + n + " pieces but " + scores.length
                    + " scores and " + tokenTypes.length + " token types");
        }
        for (int i = 0; i < n; i++) {
            if (pieces.get(i) == null) {
                throw new IllegalArgumentException("piece " + i + " is null");
            }
        }
        if (strip != null && strip.length != n) {
            throw new IllegalArgumentException("vocabulary has " + n + " pieces but " + strip.length + " strip flags");
        }
        checkId("bos", bos, n);
        checkId("eos", eos, n);
        checkId("unk", unk, n);
        checkId("eot", eot, n);
        if (addBos && bos < 0) {
            throw new IllegalArgumentException("addBos is set but there is no BOS token");
        }
        if (addEos && eos < 0) {
            throw new IllegalArgumentException("addEos is set but there is no EOS token");
        }
    }

    private static void checkId(String name, int id, int n) {
        if (id < -1 || id >= n) {
            throw new IllegalArgumentException(name + " id " + id + " is outside the vocabulary of " + n + " tokens");
        }
    }

    /** This vocabulary with another chat template (tokenizer_config.json next to a tokenizer.model). */
    public Vocabulary withChatTemplate(String template) {
        return new Vocabulary(model, pieces, scores, tokenTypes, merges, preTokenizer, bos, eos, unk, eot,
                addBos, addEos, addSpacePrefix, template, strip);
    }

    public int size() {
        return pieces.size();
    }
}
