package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.ModelFormatException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a Hugging Face tokenizer directory: {@code tokenizer.json} (the {@code tokenizers} library's
 * serialization: {@code model.vocab}, {@code model.merges}, {@code added_tokens}, {@code normalizer},
 * {@code pre_tokenizer}, {@code post_processor}) plus {@code tokenizer_config.json} (special-token texts,
 * {@code add_bos_token}/{@code add_eos_token}, {@code chat_template}).
 *
 * <p>Token types follow llama.cpp's converter ({@code convert_hf_to_gguf.py get_vocab_base}): added tokens
 * marked special are CONTROL, other added tokens USER_DEFINED, ids missing from both tables become unused
 * {@code [PADn]} tokens.
 *
 * <p>Which algorithm:
 * <ul>
 *   <li>a {@code ByteLevel} pre-tokenizer → byte-level BPE; the family comes from the {@code Split} regex
 *       ({@code \p{N}{1,3}} Llama 3, single {@code \p{N}} with the {@code (?i:'s…)} prefix Qwen2) or, for a bare
 *       {@code ByteLevel} with {@code use_regex}, GPT-2;</li>
 *   <li>a SentencePiece-style BPE ({@code byte_fallback}, {@code ▁} via a {@code Metaspace} pre-tokenizer or a
 *       {@code Prepend}/{@code Replace} normalizer) → SentencePiece BPE. tokenizer.json keeps merge ranks, not
 *       scores; the score of a piece is minus the rank of the first merge that builds it, which
 *       reproduces the merge priority SentencePiece's scores encode.
 *       {@link Tokenizers#fromHfDirectory} prefers the directory's {@code tokenizer.model} when there is one.</li>
 * </ul>
 */
final class HfTokenizerReader {
    private static final int MAX_VOCAB = 1 << 22;

    private final Path file;

    private HfTokenizerReader(Path file) {
        this.file = file;
    }

    /** Whether a parsed tokenizer.json describes a SentencePiece-style (▁, byte fallback) BPE rather than a byte-level one. */
    static boolean isSentencePieceStyle(Map<String, Object> root) {
        return !mentions(root.get("pre_tokenizer"), "ByteLevel");
    }

    /** The chat template of a tokenizer_config.json, or null. */
    static String chatTemplate(Path tokenizerConfig) throws IOException {
        return chatTemplate(Json.readObject(tokenizerConfig), tokenizerConfig);
    }

    static Vocabulary read(Path tokenizerJson, Path tokenizerConfig) throws IOException {
        return read(tokenizerJson, Json.readObject(tokenizerJson), tokenizerConfig);
    }

    /** From an already parsed tokenizer.json ({@code root}); {@code tokenizerJson} names it in errors. */
    static Vocabulary read(Path tokenizerJson, Map<String, Object> root, Path tokenizerConfig) throws IOException {
        Map<String, Object> config = tokenizerConfig != null && Files.isRegularFile(tokenizerConfig)
                ? Json.readObject(tokenizerConfig) : Map.of();
        return new HfTokenizerReader(tokenizerJson).build(root, config, tokenizerConfig);
    }

    private Vocabulary build(Map<String, Object> root, Map<String, Object> config, Path configFile) throws ModelFormatException {
        Map<String, Object> model = object(root, "model", file);
        String type = model.get("type") instanceof String s ? s : null;
        if (!"BPE".equals(type)) {
            throw new UnsupportedOperationException(file.getFileName() + ": field 'model.type' = '" + type
                    + "': only BPE tokenizers are implemented");
        }
        Map<String, Object> vocabMap = object(model, "model.vocab", file);
        Map<Integer, String> byId = new HashMap<>();
        int maxId = -1;
        for (Map.Entry<String, Object> e : vocabMap.entrySet()) {
            int id = id("model.vocab['" + e.getKey() + "']", e.getValue());
            if (byId.put(id, e.getKey()) != null) {
                throw ModelFormatException.field(file, "model.vocab", "id %d is used by two tokens", id);
            }
            maxId = Math.max(maxId, id);
        }
        Map<Integer, Boolean> added = new HashMap<>();  // id → special
        Map<Integer, Integer> stripById = new HashMap<>();
        if (root.get("added_tokens") instanceof List<?> list) {
            for (int i = 0; i < list.size(); i++) {
                String where = "added_tokens[" + i + "]";
                if (!(list.get(i) instanceof Map<?, ?> t)) {
                    throw ModelFormatException.field(file, where, "must be an object");
                }
                int id = id(where + ".id", t.get("id"));
                if (!(t.get("content") instanceof String content) || content.isEmpty()) {
                    throw ModelFormatException.field(file, where + ".content", "must be a non-empty string");
                }
                String previous = byId.put(id, content);
                if (previous != null && !previous.equals(content)) {
                    throw ModelFormatException.field(file, where, "id %d is '%s' in model.vocab but '%s' here", id, previous, content);
                }
                added.put(id, Boolean.TRUE.equals(t.get("special")));
                int flags = (Boolean.TRUE.equals(t.get("lstrip")) ? Vocabulary.STRIP_LEFT : 0)
                        | (Boolean.TRUE.equals(t.get("rstrip")) ? Vocabulary.STRIP_RIGHT : 0);
                if (flags != 0) {
                    stripById.put(id, flags);
                }
                maxId = Math.max(maxId, id);
            }
        } else if (root.get("added_tokens") != null) {
            throw ModelFormatException.field(file, "added_tokens", "must be an array");
        }
        int n = maxId + 1;
        if (n == 0) {
            throw ModelFormatException.field(file, "model.vocab", "is empty");
        }
        int[] strip = null;
        if (!stripById.isEmpty()) {
            strip = new int[n];
            for (Map.Entry<Integer, Integer> e : stripById.entrySet()) {
                strip[e.getKey()] = e.getValue();
            }
        }
        List<String> pieces = new ArrayList<>(n);
        int[] types = new int[n];
        float[] scores = new float[n];
        boolean spmStyle = !mentions(root.get("pre_tokenizer"), "ByteLevel");
        String unkText = model.get("unk_token") instanceof String s ? s : null;
        for (int id = 0; id < n; id++) {
            String text = byId.get(id);
            if (text == null) {
                pieces.add("[PAD" + id + "]");
                types[id] = Vocabulary.UNUSED;
                continue;
            }
            pieces.add(text);
            Boolean special = added.get(id);
            if (special != null) {
                types[id] = special ? Vocabulary.CONTROL : Vocabulary.USER_DEFINED;
            } else if (text.equals(unkText)) {
                types[id] = Vocabulary.UNKNOWN;
            } else if (spmStyle && VocabularyTokenizer.byteOfPiece(text) >= 0) {
                types[id] = Vocabulary.BYTE;
            } else {
                types[id] = Vocabulary.NORMAL;
            }
        }
        Map<String, Integer> ids = new HashMap<>();
        for (int id = 0; id < n; id++) {
            ids.put(pieces.get(id), id);
        }
        List<String> merges = merges(model.get("merges"));
        if (spmStyle) {
            // Score of a piece = −(rank of the first merge that builds it): the SentencePiece merge order.
            // Pieces no merge builds rank after every merge, in id order.
            for (int id = 0; id < n; id++) {
                scores[id] = types[id] == Vocabulary.NORMAL ? -(float) (merges.size() + id) : 0f;
            }
            for (int r = merges.size() - 1; r >= 0; r--) {
                String m = merges.get(r);
                int sp = m.indexOf(' ', 1);
                Integer id = ids.get(m.substring(0, sp) + m.substring(sp + 1));
                if (id != null && types[id] == Vocabulary.NORMAL) {
                    scores[id] = -(float) r;
                }
            }
        }
        String bosText = tokenText(config, "bos_token", configFile);
        String eosText = tokenText(config, "eos_token", configFile);
        int bos = bosText != null && ids.containsKey(bosText) ? ids.get(bosText) : -1;
        int eos = eosText != null && ids.containsKey(eosText) ? ids.get(eosText) : -1;
        int unk = unkText != null && ids.containsKey(unkText) ? ids.get(unkText) : -1;
        String template = chatTemplate(config, configFile);

        if (spmStyle) {
            boolean dummyPrefix = mentions(root.get("normalizer"), "Prepend") || mentions(root.get("pre_tokenizer"), "Metaspace");
            boolean addBos = bool(config, "add_bos_token", bos >= 0, configFile) && bos >= 0;
            boolean addEos = bool(config, "add_eos_token", false, configFile) && eos >= 0;
            return new Vocabulary(Vocabulary.Model.SPM, List.copyOf(pieces), scores, types, List.of(), null,
                    bos, eos, unk, -1, addBos, addEos, dummyPrefix, template, strip);
        }
        String pre = preTokenizerName(root.get("pre_tokenizer"));
        boolean defaultBos = "llama-bpe".equals(pre) || startsWithBos(root.get("post_processor"), bosText);
        boolean addBos = bool(config, "add_bos_token", defaultBos, configFile) && bos >= 0;
        boolean addEos = bool(config, "add_eos_token", false, configFile) && eos >= 0;
        return new Vocabulary(Vocabulary.Model.BPE, List.copyOf(pieces), scores, types, merges, pre,
                bos, eos, unk, -1, addBos, addEos, false, template, strip);
    }

    /** The llama.cpp pre-tokenizer name matching the Split regex of a byte-level pre_tokenizer. */
    private String preTokenizerName(Object preTokenizer) {
        String regex = findRegex(preTokenizer);
        if (regex == null) {
            if (preTokenizer instanceof Map<?, ?> m && "ByteLevel".equals(m.get("type")) && !Boolean.FALSE.equals(m.get("use_regex"))) {
                return "gpt-2";
            }
        } else if (regex.contains("\\p{N}{1,3}") && regex.contains("[^\\r\\n\\p{L}\\p{N}]?\\p{L}+")) {
            return "llama-bpe";
        } else if (regex.contains("|\\p{N}|") && regex.contains("[^\\r\\n\\p{L}\\p{N}]?\\p{L}+")) {
            return "qwen2";
        } else if (regex.equals("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)")) {
            return "gpt-2";
        }
        throw new UnsupportedOperationException(file.getFileName() + ": field 'pre_tokenizer': "
                + (regex == null ? "no Split regex" : "Split regex " + regex)
                + " is not one of the implemented pre-tokenizers (GPT-2, Llama 3, Qwen2)");
    }

    private static String findRegex(Object node) {
        if (node instanceof Map<?, ?> m) {
            if ("Split".equals(m.get("type")) && m.get("pattern") instanceof Map<?, ?> p && p.get("Regex") instanceof String r) {
                return r;
            }
            for (Object v : m.values()) {
                String r = findRegex(v);
                if (r != null) {
                    return r;
                }
            }
        } else if (node instanceof List<?> l) {
            for (Object v : l) {
                String r = findRegex(v);
                if (r != null) {
                    return r;
                }
            }
        }
        return null;
    }

    /** Whether any object in the tree has {@code "type": type}. */
    private static boolean mentions(Object node, String type) {
        if (node instanceof Map<?, ?> m) {
            if (type.equals(m.get("type"))) {
                return true;
            }
            return m.values().stream().anyMatch(v -> mentions(v, type));
        }
        return node instanceof List<?> l && l.stream().anyMatch(v -> mentions(v, type));
    }

    /** TemplateProcessing whose "single" template opens with the BOS special token. */
    private static boolean startsWithBos(Object postProcessor, String bosText) {
        if (bosText == null || !(postProcessor instanceof Map<?, ?> m)) {
            return false;
        }
        if ("TemplateProcessing".equals(m.get("type")) && m.get("single") instanceof List<?> single && !single.isEmpty()
                && single.get(0) instanceof Map<?, ?> first && first.get("SpecialToken") instanceof Map<?, ?> st) {
            return bosText.equals(st.get("id"));
        }
        if (m.get("processors") instanceof List<?> list) {
            return list.stream().anyMatch(p -> startsWithBos(p, bosText));
        }
        return false;
    }

    /** Merges as "left right", from either serialization: strings "a b" or pairs ["a", "b"] (tokenizers ≥ 0.20). */
    private List<String> merges(Object node) throws ModelFormatException {
        if (!(node instanceof List<?> list)) {
            throw ModelFormatException.field(file, "model.merges", "must be an array but is %s", Json.typeName(node));
        }
        List<String> out = new ArrayList<>(list.size());
        for (int i = 0; i < list.size(); i++) {
            Object m = list.get(i);
            if (m instanceof String s && s.indexOf(' ', 1) > 0) {
                out.add(s);
            } else if (m instanceof List<?> pair && pair.size() == 2 && pair.get(0) instanceof String a
                    && pair.get(1) instanceof String b && !a.isEmpty() && !b.isEmpty()) {
                out.add(a + " " + b);
            } else {
                throw ModelFormatException.field(file, "model.merges[" + i + "]",
                        "must be \"left right\" or [\"left\", \"right\"], got %s", Json.write(m));
            }
        }
        return out;
    }

    private int id(String field, Object v) throws ModelFormatException {
        if (!(v instanceof Long l) || l < 0 || l >= MAX_VOCAB) {
            throw ModelFormatException.field(file, field, "must be a token id in 0..%,d, got %s", MAX_VOCAB - 1, Json.write(v));
        }
        return (int) (long) l;
    }

    private static Map<String, Object> object(Map<String, Object> parent, String field, Path file) throws ModelFormatException {
        String key = field.substring(field.lastIndexOf('.') + 1);
        Object v = parent.get(key);
        if (!(v instanceof Map<?, ?>)) {
            throw ModelFormatException.field(file, field, "must be an object but is %s", Json.typeName(v));
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) v;
        return m;
    }

    /** A special token given as "text" or {"content": "text", …}; null when absent. */
    private static String tokenText(Map<String, Object> config, String key, Path configFile) throws ModelFormatException {
        Object v = config.get(key);
        if (v == null || v instanceof String) {
            return (String) v;
        }
        if (v instanceof Map<?, ?> m && m.get("content") instanceof String s) {
            return s;
        }
        throw ModelFormatException.field(configFile, key, "must be a string or an object with 'content', got %s", Json.typeName(v));
    }

    private static boolean bool(Map<String, Object> config, String key, boolean fallback, Path configFile) throws ModelFormatException {
        Object v = config.get(key);
        if (v == null) {
            return fallback;
        }
        if (!(v instanceof Boolean b)) {
            throw ModelFormatException.field(configFile, key, "must be true or false, got %s", Json.typeName(v));
        }
        return b;
    }

    /** chat_template as a string, or the "default" entry of a list of {name, template}. */
    private static String chatTemplate(Map<String, Object> config, Path configFile) throws ModelFormatException {
        Object v = config.get("chat_template");
        if (v == null || v instanceof String) {
            return (String) v;
        }
        if (v instanceof List<?> list) {
            for (Object o : list) {
                if (o instanceof Map<?, ?> m && "default".equals(m.get("name")) && m.get("template") instanceof String s) {
                    return s;
                }
            }
            return null;
        }
        throw ModelFormatException.field(configFile, "chat_template", "must be a string or a list of {name, template}, got %s",
                Json.typeName(v));
    }
}
