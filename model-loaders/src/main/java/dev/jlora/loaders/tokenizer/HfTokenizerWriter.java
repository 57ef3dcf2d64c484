package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.io.Json;
import dev.jlora.loaders.io.AtomicFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Writes a byte-level BPE {@link Vocabulary} (GPT-2, Llama 3, Qwen2 families) as a Hugging Face {@code tokenizer.json}
 * plus {@code tokenizer_config.json}, in the {@code tokenizers} library's serialization, so that
 * {@link HfTokenizerReader} (and transformers' {@code PreTrainedTokenizerFast}) rebuild the same tokenizer:
 * <ul>
 *   <li>{@code model}: BPE with {@code vocab} (normal and unknown tokens, in id order) and {@code merges} in rank
 *       order; {@code ignore_merges} for the Llama 3 family, as its tokenizer.json has it;</li>
 *   <li>{@code added_tokens}: CONTROL tokens as {@code special}, USER_DEFINED ones as not special, with their
 *       lstrip/rstrip flags; the {@code [PADn]} fillers llama.cpp's converter adds for ids the tokenizer lacks are
 *       left out (the reader recreates them);</li>
 *   <li>{@code pre_tokenizer}: the family's published form: GPT-2's bare {@code ByteLevel}, or a {@code Split} with
 *       the Llama 3 / Qwen2 regex followed by {@code ByteLevel} without its own regex;</li>
 *   <li>{@code post_processor}: a template that prepends BOS when the vocabulary adds it (as Llama 3's does), else
 *       {@code ByteLevel}; {@code decoder}: {@code ByteLevel}.</li>
 * </ul>
 * tokenizer_config.json carries the special-token texts, {@code add_bos_token}/{@code add_eos_token} and the chat
 * template. Vocabularies whose ids the format cannot hold (an unused token that is not a filler, a byte token)
 * are refused by name rather than written differently.
 */
public final class HfTokenizerWriter {

    /** The Split regexes of Llama 3's and Qwen2's published tokenizer.json (they differ in \p{N}{1,3} vs \p{N}). */
    static final String LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    static final String QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final Pattern FILLER = Pattern.compile("\\[PAD(\\d+)]");

    private HfTokenizerWriter() {}

    /** Writes {@code tokenizer.json} and {@code tokenizer_config.json} for {@code v} into {@code dir}. */
    public static void write(Vocabulary v, Path dir) throws IOException {
        AtomicFile.writeString(dir.resolve("tokenizer.json"), Json.write(tokenizerJson(v)) + "\n");
        AtomicFile.writeString(dir.resolve("tokenizer_config.json"), Json.writePretty(tokenizerConfig(v, "PreTrainedTokenizerFast")) + "\n");
    }

    /** The tokenizer.json content for byte-level BPE vocabulary {@code v}. */
    public static Map<String, Object> tokenizerJson(Vocabulary v) {
        if (v.model() != Vocabulary.Model.BPE) {
            throw new IllegalArgumentException("tokenizer.json writer: vocabulary is " + v.model()
                    + ", not byte-level BPE (SentencePiece vocabularies are written as tokenizer.model)");
        }
        BpePreTokenizer family = BpePreTokenizer.forName(v.preTokenizer());
        if (family == null) {
            throw new UnsupportedOperationException("tokenizer.json writer: pre-tokenizer '" + v.preTokenizer()
                    + "' has no Hugging Face form here (supported families: GPT-2, Llama 3, Qwen2)");
        }
        Map<String, Object> vocab = new LinkedHashMap<>();
        List<Object> added = new ArrayList<>();
        for (int id = 0; id < v.pieces().size(); id++) {
            String piece = v.pieces().get(id);
            int type = v.tokenTypes()[id];
            switch (type) {
                case Vocabulary.NORMAL, Vocabulary.UNKNOWN, Vocabulary.UNDEFINED -> {
                    if (vocab.put(piece, (long) id) != null) {
                        throw new UnsupportedOperationException("tokenizer.json writer: token " + id + " '" + piece
                                + "' repeats an earlier token's text; model.vocab maps each text to one id");
                    }
                }
                case Vocabulary.CONTROL, Vocabulary.USER_DEFINED -> added.add(addedToken(v, id));
                case Vocabulary.UNUSED -> {
                    var m = FILLER.matcher(piece);
                    if (!m.matches() || !m.group(1).equals(String.valueOf(id))) {
                        throw new UnsupportedOperationException("tokenizer.json writer: unused token " + id + " '"
                                + piece + "' has no tokenizer.json form (only [PAD<id>] fillers can be left out)");
                    }
                }
                default -> throw new UnsupportedOperationException("tokenizer.json writer: token " + id + " '" + piece
                        + "' has type " + type + ", which byte-level BPE does not use");
            }
        }
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", v.unk() >= 0 ? v.pieces().get(v.unk()) : null);
        model.put("continuing_subword_prefix", null);
        model.put("end_of_word_suffix", null);
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", family.ignoresMerges());
        model.put("vocab", vocab);
        model.put("merges", v.merges());

        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("truncation", null);
        root.put("padding", null);
        root.put("added_tokens", added);
        root.put("normalizer", null);
        root.put("pre_tokenizer", preTokenizer(family));
        root.put("post_processor", postProcessor(v));
        root.put("decoder", byteLevel(true, true, true));
        root.put("model", model);
        return root;
    }

    /**
     * tokenizer_config.json: the tokenizer class transformers should build ({@code PreTrainedTokenizerFast} over
     * tokenizer.json, {@code LlamaTokenizer} over tokenizer.model), special-token texts, whether encode adds BOS/EOS,
     * the chat template.
     */
    public static Map<String, Object> tokenizerConfig(Vocabulary v, String tokenizerClass) {
        Map<String, Object> tc = new LinkedHashMap<>();
        tc.put("tokenizer_class", tokenizerClass);
        tc.put("add_bos_token", v.addBos());
        tc.put("add_eos_token", v.addEos());
        if (v.bos() >= 0) {
            tc.put("bos_token", v.pieces().get(v.bos()));
        }
        if (v.eos() >= 0) {
            tc.put("eos_token", v.pieces().get(v.eos()));
        }
        if (v.unk() >= 0) {
            tc.put("unk_token", v.pieces().get(v.unk()));
        }
        if (v.chatTemplate() != null) {
            tc.put("chat_template", v.chatTemplate());
        }
        return tc;
    }

    private static Map<String, Object> addedToken(Vocabulary v, int id) {
        int strip = v.strip() == null ? 0 : v.strip()[id];
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("id", (long) id);
        t.put("content", v.pieces().get(id));
        t.put("single_word", false);
        t.put("lstrip", (strip & Vocabulary.STRIP_LEFT) != 0);
        t.put("rstrip", (strip & Vocabulary.STRIP_RIGHT) != 0);
        t.put("normalized", false);
        t.put("special", v.tokenTypes()[id] == Vocabulary.CONTROL);
        return t;
    }

    private static Map<String, Object> preTokenizer(BpePreTokenizer family) {
        if (family == BpePreTokenizer.GPT2) {
            return byteLevel(false, true, true);      // GPT-2: ByteLevel applies its own regex
        }
        Map<String, Object> split = new LinkedHashMap<>();
        split.put("type", "Split");
        split.put("pattern", Map.of("Regex", family == BpePreTokenizer.LLAMA3 ? LLAMA3_REGEX : QWEN2_REGEX));
        split.put("behavior", "Isolated");
        split.put("invert", false);
        Map<String, Object> seq = new LinkedHashMap<>();
        seq.put("type", "Sequence");
        seq.put("pretokenizers", List.of(split, byteLevel(false, family == BpePreTokenizer.LLAMA3, false)));
        return seq;
    }

    private static Map<String, Object> byteLevel(boolean addPrefixSpace, boolean trimOffsets, boolean useRegex) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", "ByteLevel");
        m.put("add_prefix_space", addPrefixSpace);
        m.put("trim_offsets", trimOffsets);
        m.put("use_regex", useRegex);
        return m;
    }

    /** BOS-prepending template (tokenizers' TemplateProcessing) when the vocabulary adds BOS, else ByteLevel. */
    private static Map<String, Object> postProcessor(Vocabulary v) {
        if (!v.addBos()) {
            return byteLevel(true, false, true);
        }
        String bos = v.pieces().get(v.bos());
        Map<String, Object> special = Map.of("SpecialToken", Map.of("id", bos, "type_id", 0L));
        Map<String, Object> template = new LinkedHashMap<>();
        template.put("type", "TemplateProcessing");
        template.put("single", List.of(special, Map.of("Sequence", Map.of("id", "A", "type_id", 0L))));
        template.put("pair", List.of(special, Map.of("Sequence", Map.of("id", "A", "type_id", 0L)),
                Map.of("SpecialToken", Map.of("id", bos, "type_id", 1L)), Map.of("Sequence", Map.of("id", "B", "type_id", 1L))));
        template.put("special_tokens", Map.of(bos, Map.of("id", bos, "ids", List.of((long) v.bos()), "tokens", List.of(bos))));
        return template;
    }
}
