package dev.jlora.loaders.hf;

import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaConfig.RopeScaling;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Hugging Face {@code config.json} ↔ {@link LlamaConfig} for the llama, mistral and qwen2 model types, with the
 * defaults of transformers' {@code LlamaConfig}, {@code MistralConfig} and {@code Qwen2Config}.
 *
 * <p>Hugging Face checkpoints keep Q/K rows in the half-split rotary layout, so the result has
 * {@code ropeInterleaved = false}. Qwen2's attention always has q/k/v biases; llama has them when
 * {@code attention_bias} is true; mistral never. For YaRN, {@code lowFreqFactor}/{@code highFreqFactor} of
 * {@link RopeScaling} carry {@code beta_slow}/{@code beta_fast} (defaults 1 and 32).
 */
public final class HfConfig {

    private HfConfig() {}

    /** Reads {@code config.json}. */
    public static LlamaConfig read(Path configJson) throws IOException {
        return parse(Json.readObject(configJson), configJson);
    }

    /** Converts a parsed {@code config.json}; {@code source} names the file in errors. */
    public static LlamaConfig parse(Map<String, Object> c, Path source) throws ModelFormatException {
        Fields f = new Fields(c, source);
        String type = f.string("model_type", null);
        if (type == null) {
            throw ModelFormatException.field(source, "model_type", "is missing (expected llama, mistral or qwen2)");
        }
        type = type.toLowerCase(Locale.ROOT);
        if (!List.of("llama", "mistral", "qwen2").contains(type)) {
            throw new UnsupportedOperationException(source.getFileName() + ": model_type '" + type
                    + "' is not supported (supported: llama, mistral, qwen2)");
        }
        int dim = f.integer("hidden_size", null);
        int hidden = f.integer("intermediate_size", null);
        int layers = f.integer("num_hidden_layers", null);
        int heads = f.integer("num_attention_heads", null);
        int kvHeads = f.integer("num_key_value_heads", heads);
        if (heads <= 0 || dim % heads != 0 && !c.containsKey("head_dim")) {
            throw ModelFormatException.field(source, "num_attention_heads", "%d does not divide hidden_size %d and "
                    + "head_dim is not given", heads, dim);
        }
        int headDim = c.get("head_dim") == null ? dim / heads : f.integer("head_dim", null);
        int vocab = f.integer("vocab_size", null);
        int ctx = f.integer("max_position_embeddings", switch (type) {
            case "mistral" -> 131072;
            case "qwen2" -> 32768;
            default -> 2048;
        });
        float eps = f.number("rms_norm_eps", 1e-6f);
        if (f.bool("mlp_bias", false)) {
            throw new UnsupportedOperationException(source.getFileName() + ": mlp_bias=true is not supported");
        }
        // transformers v5 moved rope_theta/rope_scaling into rope_parameters.
        Map<String, Object> ropeParams = f.object("rope_parameters");
        Fields rp = ropeParams == null ? null : new Fields(ropeParams, source, "rope_parameters.");
        float theta = rp != null && ropeParams.get("rope_theta") != null ? rp.number("rope_theta", 10000f)
                : f.number("rope_theta", 10000f);
        Map<String, Object> scaling = f.object("rope_scaling");
        RopeScaling rs;
        if (scaling != null) {
            rs = ropeScaling(new Fields(scaling, source, "rope_scaling."), ctx);
        } else if (rp != null) {
            rs = ropeScaling(rp, ctx);
        } else {
            rs = RopeScaling.NONE;
        }
        boolean tied = f.bool("tie_word_embeddings", false);
        boolean bias = switch (type) {
            case "qwen2" -> true;
            case "llama" -> f.bool("attention_bias", false);
            default -> false;
        };
        try {
            return new LlamaConfig(type, dim, hidden, layers, heads, kvHeads, headDim, vocab, ctx, eps, theta, rs,
                    false, tied, bias);
        } catch (IllegalArgumentException e) {
            throw ModelFormatException.of(source, "%s", e.getMessage());
        }
    }

    /**
     * {@code rope_scaling} as transformers' {@code modeling_rope_utils} reads it: llama3 needs factor and
     * original_max_position_embeddings (low/high_freq_factor default 1 and 4); yarn needs factor, takes
     * original_max_position_embeddings (default max_position_embeddings), beta_fast/beta_slow (default 32/1), and
     * attention_factor, else get_mscale(factor, mscale)/get_mscale(factor, mscale_all_dim) when both are set,
     * else 0.1·ln(factor) + 1.
     */
    private static RopeScaling ropeScaling(Fields s, int ctx) throws ModelFormatException {
        String kind = s.string("rope_type", null);
        if (kind == null) {
            kind = s.string("type", "default");
        }
        return switch (kind.toLowerCase(Locale.ROOT)) {
            case "default" -> RopeScaling.NONE;
            case "linear" -> new RopeScaling(RopeScaling.Type.LINEAR, s.positive("factor", null), 0, 0f, 0f);
            case "llama3" -> {
                float low = s.positive("low_freq_factor", 1f), high = s.positive("high_freq_factor", 4f);
                if (!(high > low)) {
                    throw s.error("high_freq_factor", "must be greater than low_freq_factor (%s), got %s", low, high);
                }
                yield new RopeScaling(RopeScaling.Type.LLAMA3, s.positive("factor", null),
                        s.positiveInteger("original_max_position_embeddings", null), low, high);
            }
            case "yarn" -> {
                float factor = s.positive("factor", null);
                int original = s.positiveInteger("original_max_position_embeddings", ctx);
                float betaFast = s.positive("beta_fast", 32f), betaSlow = s.positive("beta_slow", 1f);
                if (!(betaFast > betaSlow)) {
                    throw s.error("beta_fast", "must be greater than beta_slow (%s), got %s", betaSlow, betaFast);
                }
                if (!s.bool("truncate", true)) {
                    throw new UnsupportedOperationException(s.prefix() + "truncate false (a YaRN ramp with "
                            + "unrounded bounds, as gpt-oss uses) is not supported");
                }
                float attention;
                if (s.m().get("attention_factor") != null) {
                    attention = s.positive("attention_factor", null);
                } else if (s.m().get("mscale") != null && s.m().get("mscale_all_dim") != null
                        && s.number("mscale", null) != 0 && s.number("mscale_all_dim", null) != 0) {
                    attention = RopeScaling.yarnMscale(factor, s.number("mscale", null))
                            / RopeScaling.yarnMscale(factor, s.number("mscale_all_dim", null));
                } else {
                    attention = RopeScaling.yarnMscale(factor, 1);
                }
                yield RopeScaling.yarn(factor, original, betaFast, betaSlow, attention);
            }
            default -> throw new UnsupportedOperationException("rope scaling type '" + kind
                    + "' is not supported (supported: linear, llama3, yarn)");
        };
    }

    /** The {@code config.json} content for {@code c} (Hugging Face layout; the caller un-permutes Q/K). */
    public static Map<String, Object> toJson(LlamaConfig c, int bosId, int eosId) {
        Map<String, Object> m = new LinkedHashMap<>();
        String type = c.architecture().toLowerCase(Locale.ROOT);
        if (!List.of("llama", "mistral", "qwen2").contains(type)) {
            throw new UnsupportedOperationException("cannot write config.json for architecture '" + c.architecture() + "'");
        }
        m.put("architectures", List.of(switch (type) {
            case "mistral" -> "MistralForCausalLM";
            case "qwen2" -> "Qwen2ForCausalLM";
            default -> "LlamaForCausalLM";
        }));
        m.put("model_type", type);
        m.put("hidden_size", c.dim());
        m.put("intermediate_size", c.hiddenDim());
        m.put("num_hidden_layers", c.nLayers());
        m.put("num_attention_heads", c.nHeads());
        m.put("num_key_value_heads", c.nKvHeads());
        m.put("head_dim", c.headDim());
        m.put("vocab_size", c.vocabSize());
        m.put("max_position_embeddings", c.contextLength());
        m.put("rms_norm_eps", (double) c.rmsEps());
        m.put("rope_theta", (double) c.ropeTheta());
        RopeScaling rs = c.ropeScaling() == null ? RopeScaling.NONE : c.ropeScaling();
        m.put("rope_scaling", switch (rs.type()) {
            case NONE -> null;
            case LINEAR -> Map.of("rope_type", "linear", "factor", (double) rs.factor());
            case LLAMA3 -> Map.of("rope_type", "llama3", "factor", (double) rs.factor(),
                    "original_max_position_embeddings", rs.originalContextLength(),
                    "low_freq_factor", (double) rs.lowFreqFactor(), "high_freq_factor", (double) rs.highFreqFactor());
            case YARN -> Map.of("rope_type", "yarn", "factor", (double) rs.factor(),
                    "original_max_position_embeddings", rs.originalContextLength(),
                    "beta_slow", (double) rs.betaSlow(), "beta_fast", (double) rs.betaFast(),
                    "attention_factor", (double) rs.attentionFactor());
            case FREQUENCY_FACTORS -> throw new UnsupportedOperationException("rope frequency factors (GGUF "
                    + "rope_freqs.weight) have no config.json form: the llama3 rope_scaling parameters they were "
                    + "computed from are not stored in the GGUF");
        });
        m.put("tie_word_embeddings", c.tiedEmbeddings());
        if (type.equals("llama")) {
            m.put("attention_bias", c.attentionBias());
            m.put("mlp_bias", false);
        } else if (type.equals("qwen2") != c.attentionBias()) {
            throw new UnsupportedOperationException(type + " with attentionBias=" + c.attentionBias()
                    + " has no Hugging Face config");
        }
        m.put("hidden_act", "silu");
        if (bosId >= 0) {
            m.put("bos_token_id", bosId);
        }
        if (eosId >= 0) {
            m.put("eos_token_id", eosId);
        }
        m.put("torch_dtype", "float32");
        return m;
    }

    /** Typed access to one JSON object, errors naming the file and field. */
    private record Fields(Map<String, Object> m, Path source, String prefix) {
        Fields(Map<String, Object> m, Path source) {
            this(m, source, "");
        }

        int integer(String key, Integer defaultValue) throws ModelFormatException {
            Object v = m.get(key);
            if (v == null) {
                if (defaultValue == null) {
                    throw ModelFormatException.field(source, prefix + key, "is missing (expected an integer)");
                }
                return defaultValue;
            }
            if (!(v instanceof Long l) || l < Integer.MIN_VALUE || l > Integer.MAX_VALUE) {
                throw ModelFormatException.field(source, prefix + key, "must be a 32-bit integer, found %s %s",
                        Json.typeName(v), v);
            }
            return (int) (long) l;
        }

        float number(String key, Float defaultValue) throws ModelFormatException {
            Object v = m.get(key);
            if (v == null) {
                if (defaultValue == null) {
                    throw ModelFormatException.field(source, prefix + key, "is missing (expected a number)");
                }
                return defaultValue;
            }
            if (!(v instanceof Number n)) {
                throw ModelFormatException.field(source, prefix + key, "must be a number, found %s", Json.typeName(v));
            }
            return n.floatValue();
        }

        /** A number that must be positive and finite. */
        float positive(String key, Float defaultValue) throws ModelFormatException {
            float v = number(key, defaultValue);
            if (!(v > 0) || !Float.isFinite(v)) {
                throw error(key, "must be a positive number, got %s", v);
            }
            return v;
        }

        int positiveInteger(String key, Integer defaultValue) throws ModelFormatException {
            int v = integer(key, defaultValue);
            if (v <= 0) {
                throw error(key, "must be positive, got %d", v);
            }
            return v;
        }

        ModelFormatException error(String key, String format, Object... args) {
            return ModelFormatException.field(source, prefix + key, format, args);
        }

        boolean bool(String key, boolean defaultValue) throws ModelFormatException {
            Object v = m.get(key);
            if (v == null) {
                return defaultValue;
            }
            if (!(v instanceof Boolean b)) {
                throw ModelFormatException.field(source, prefix + key, "must be true or false, found %s", Json.typeName(v));
            }
            return b;
        }

        String string(String key, String defaultValue) throws ModelFormatException {
            Object v = m.get(key);
            if (v == null) {
                return defaultValue;
            }
            if (!(v instanceof String s)) {
                throw ModelFormatException.field(source, prefix + key, "must be a string, found %s", Json.typeName(v));
            }
            return s;
        }

        @SuppressWarnings("unchecked")
        Map<String, Object> object(String key) throws ModelFormatException {
            Object v = m.get(key);
            if (v == null) {
                return null;
            }
            if (!(v instanceof Map<?, ?>)) {
                throw ModelFormatException.field(source, prefix + key, "must be an object or null, found %s",
                        Json.typeName(v));
            }
            return (Map<String, Object>) v;
        }
    }
}
