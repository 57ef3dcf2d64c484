package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.io.ModelFormatException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Builds a {@link Vocabulary} from GGUF tokenizer metadata (the {@code tokenizer.*} keys, see the GGUF spec's
 * "Tokenizer" section), with llama.cpp's defaults ({@code llama_vocab::impl::load}):
 * <ul>
 *   <li>{@code tokenizer.ggml.model} "llama" → SentencePiece BPE; BOS 1, EOS 2, UNK 0, add BOS, dummy prefix;</li>
 *   <li>"gpt2" → byte-level BPE; BOS = EOS = 11, no UNK, no BOS except for the Llama 3 pre-tokenizer, no dummy prefix;</li>
 *   <li>{@code *_token_id}, {@code add_bos_token}, {@code add_eos_token}, {@code add_space_prefix} override these;
 *       a special id outside the vocabulary keeps the default, and a default outside it means "none" (as llama.cpp).</li>
 * </ul>
 * Values are read through {@code lookup}: key → String, Number, Boolean, a {@code List} of strings or
 * numbers, or a primitive array; null when the key is absent. This keeps the mapping independent of the
 * GGUF reader's value classes.
 */
final class GgufTokenizerMetadata {
    private final Path file;
    private final Function<String, Object> lookup;

    private GgufTokenizerMetadata(Path file, Function<String, Object> lookup) {
        this.file = file;
        this.lookup = lookup;
    }

    static Vocabulary vocabulary(Path file, Function<String, Object> lookup) throws ModelFormatException {
        return new GgufTokenizerMetadata(file, lookup).build();
    }

    private Vocabulary build() throws ModelFormatException {
        String model = string("tokenizer.ggml.model", true);
        String pre = string("tokenizer.ggml.pre", false);
        List<String> tokens = strings("tokenizer.ggml.tokens", true);
        int n = tokens.size();
        if (n == 0) {
            throw ModelFormatException.field(file, "tokenizer.ggml.tokens", "is empty");
        }
        List<String> pieces = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            String t = tokens.get(i);
            pieces.add(t.isEmpty() ? "[EMPTY_" + i + "]" : t);  // llama.cpp's name for empty tokens
        }
        float[] scores = floats("tokenizer.ggml.scores", n);
        int[] types = ints("tokenizer.ggml.token_type", n);
        if (types == null) {
            types = new int[n];
            java.util.Arrays.fill(types, Vocabulary.NORMAL);
        }
        Vocabulary.Model kind;
        List<String> merges = List.of();
        int bos, eos, unk;
        boolean addBos, addSpacePrefix;
        switch (model) {
            case "llama" -> {
                kind = Vocabulary.Model.SPM;
                bos = 1;
                eos = 2;
                unk = 0;
                addBos = true;
                addSpacePrefix = true;
            }
            case "gpt2" -> {
                kind = Vocabulary.Model.BPE;
                merges = strings("tokenizer.ggml.merges", true);
                if (BpePreTokenizer.forName(pre) == null) {
                    throw new UnsupportedOperationException(file.getFileName() + ": metadata 'tokenizer.ggml.pre' = '" + pre
                            + "': pre-tokenizer not implemented (supported: gpt-2, llama-bpe/llama3, qwen2 families)");
                }
                bos = 11;
                eos = 11;
                unk = -1;
                addBos = BpePreTokenizer.forName(pre) == BpePreTokenizer.LLAMA3;
                addSpacePrefix = false;
            }
            default -> throw new UnsupportedOperationException(file.getFileName() + ": metadata 'tokenizer.ggml.model' = '"
                    + model + "': only 'llama' (SentencePiece BPE) and 'gpt2' (byte-level BPE) tokenizers are implemented");
        }
        bos = specialId("tokenizer.ggml.bos_token_id", bos, n);
        eos = specialId("tokenizer.ggml.eos_token_id", eos, n);
        unk = specialId("tokenizer.ggml.unknown_token_id", unk, n);
        int eot = specialId("tokenizer.ggml.eot_token_id", -1, n);
        addBos = bool("tokenizer.ggml.add_bos_token", addBos);
        boolean addEos = bool("tokenizer.ggml.add_eos_token", false);
        addSpacePrefix = bool("tokenizer.ggml.add_space_prefix", addSpacePrefix);
        if (addBos && bos < 0) {
            throw ModelFormatException.field(file, "tokenizer.ggml.add_bos_token", "is true but there is no BOS token");
        }
        if (addEos && eos < 0) {
            throw ModelFormatException.field(file, "tokenizer.ggml.add_eos_token", "is true but there is no EOS token");
        }
        String template = string("tokenizer.chat_template", false);
        return new Vocabulary(kind, List.copyOf(pieces), scores, types, merges, pre, bos, eos, unk, eot,
                addBos, addEos, addSpacePrefix, template, strip(pieces));
    }

    /**
     * GGUF stores no per-token strip flags; llama.cpp sets them by model name, and so does this: for Phi-3
     * ({@code general.name} containing "phi-3"/"phi3") every special token but {@code <unk>}, {@code <s>} and
     * {@code <|endoftext|>} drops the whitespace after it (its tokenizer.json marks them {@code rstrip}).
     */
    private int[] strip(List<String> pieces) throws ModelFormatException {
        String name = string("general.name", false);
        String lower = name == null ? "" : name.toLowerCase(java.util.Locale.ROOT);
        if (!lower.contains("phi-3") && !lower.contains("phi3")) {
            return null;
        }
        int[] strip = new int[pieces.size()];
        for (int i = 0; i < strip.length; i++) {
            String p = pieces.get(i);
            boolean keep = p.equals("<unk>") || p.equals("<s>") || p.equals("<|endoftext|>");
            strip[i] = keep ? 0 : Vocabulary.STRIP_RIGHT;  // only matters for tokens that are split out as special
        }
        return strip;
    }

    private String string(String key, boolean required) throws ModelFormatException {
        Object v = lookup.apply(key);
        if (v == null) {
            if (required) {
                throw ModelFormatException.field(file, key, "is missing");
            }
            return null;
        }
        if (!(v instanceof String s)) {
            throw ModelFormatException.field(file, key, "must be a STRING but is %s", describe(v));
        }
        return s;
    }

    private List<String> strings(String key, boolean required) throws ModelFormatException {
        Object v = lookup.apply(key);
        if (v == null) {
            if (required) {
                throw ModelFormatException.field(file, key, "is missing");
            }
            return null;
        }
        if (v instanceof List<?> list) {
            List<String> out = new ArrayList<>(list.size());
            for (Object o : list) {
                if (!(o instanceof String s)) {
                    throw ModelFormatException.field(file, key, "must be an array of STRING but holds %s", describe(o));
                }
                out.add(s);
            }
            return out;
        }
        if (v instanceof String[] arr) {
            return List.of(arr);
        }
        throw ModelFormatException.field(file, key, "must be an array of STRING but is %s", describe(v));
    }

    /** FLOAT32 (or INT32, which llama.cpp also accepts) array of at least n values; zeros when absent. */
    private float[] floats(String key, int n) throws ModelFormatException {
        Object v = lookup.apply(key);
        float[] out = new float[n];
        if (v == null) {
            return out;
        }
        int len = arrayLength(key, v);
        if (len < n) {
            throw ModelFormatException.field(file, key, "has %d values for %d tokens", len, n);
        }
        for (int i = 0; i < n; i++) {
            double d = element(key, v, i).doubleValue();
            if (!Double.isFinite(d)) {
                throw ModelFormatException.field(file, key, "value %d is %s, must be finite", i, d);
            }
            out[i] = (float) d;
        }
        return out;
    }

    private int[] ints(String key, int n) throws ModelFormatException {
        Object v = lookup.apply(key);
        if (v == null) {
            return null;
        }
        int len = arrayLength(key, v);
        if (len < n) {
            throw ModelFormatException.field(file, key, "has %d values for %d tokens", len, n);
        }
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = element(key, v, i).intValue();
        }
        return out;
    }

    private int arrayLength(String key, Object v) throws ModelFormatException {
        return switch (v) {
            case List<?> l -> l.size();
            case float[] a -> a.length;
            case int[] a -> a.length;
            case long[] a -> a.length;
            case double[] a -> a.length;
            default -> throw ModelFormatException.field(file, key, "must be a numeric array but is %s", describe(v));
        };
    }

    private Number element(String key, Object v, int i) throws ModelFormatException {
        Object e = switch (v) {
            case List<?> l -> l.get(i);
            case float[] a -> a[i];
            case int[] a -> a[i];
            case long[] a -> a[i];
            case double[] a -> a[i];
            default -> null;
        };
        if (!(e instanceof Number num)) {
            throw ModelFormatException.field(file, key, "value %d must be a number but is %s", i, describe(e));
        }
        return num;
    }

    private int specialId(String key, int fallback, int n) throws ModelFormatException {
        int id = fallback >= 0 && fallback < n ? fallback : -1;
        Object v = lookup.apply(key);
        if (v == null) {
            return id;
        }
        if (!(v instanceof Number num)) {
            throw ModelFormatException.field(file, key, "must be UINT32 but is %s", describe(v));
        }
        long value = num.longValue();
        return value >= 0 && value < n ? (int) value : id;
    }

    private boolean bool(String key, boolean fallback) throws ModelFormatException {
        Object v = lookup.apply(key);
        if (v == null) {
            return fallback;
        }
        if (!(v instanceof Boolean b)) {
            throw ModelFormatException.field(file, key, "must be BOOL but is %s", describe(v));
        }
        return b;
    }

    private static String describe(Object v) {
        return v == null ? "null" : v.getClass().getSimpleName();
    }
}
