package dev.jlora.loaders.gguf;

import dev.jlora.engine.infer.Rope;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaConfig.RopeScaling;
import dev.jlora.loaders.TensorNames;
import java.util.List;
import java.util.Locale;

/**
 * GGUF metadata ↔ {@link LlamaConfig}, with the keys and defaults of llama.cpp ({@code llama-arch.cpp},
 * {@code llama-model.cpp}): {@code ARCH.embedding_length}, {@code ARCH.attention.head_count}, … for ARCH in
 * llama, mistral, qwen2; rope theta 10000 when {@code ARCH.rope.freq_base} is absent; head size from
 * {@code ARCH.attention.key_length} or dim / heads; vocabulary from {@code ARCH.vocab_size}, the token embedding
 * or the tokenizer, in that order. Q/K rows of llama/mistral GGUFs are llama.cpp-permuted
 * ({@code ropeInterleaved = true}); qwen2 uses NeoX rope on unpermuted rows ({@code false}).
 */
public final class GgufConfig {

    private GgufConfig() {}

    static final List<String> ARCHS = List.of("llama", "mistral", "qwen2");

    /** The model shape of {@code f}. */
    public static LlamaConfig read(GgufFile f) throws ModelFormatException {
        String arch = f.getString("general.architecture").toLowerCase(Locale.ROOT);
        if (!ARCHS.contains(arch)) {
            throw new UnsupportedOperationException(f.path().getFileName() + ": general.architecture '" + arch
                    + "' is not supported (supported: " + String.join(", ", ARCHS) + ")");
        }
        String p = arch + ".";
        int dim = f.getInt(p + "embedding_length");
        int hidden = f.getInt(p + "feed_forward_length");
        int layers = f.getInt(p + "block_count");
        int heads = f.getInt(p + "attention.head_count");
        int kvHeads = f.getInt(p + "attention.head_count_kv", heads);
        if (heads <= 0) {
            throw ModelFormatException.field(f.path(), p + "attention.head_count", "must be positive, got %d", heads);
        }
        int headDim = f.getInt(p + "attention.key_length", dim / heads);
        int ropeDims = f.getInt(p + "rope.dimension_count", headDim);
        if (ropeDims != headDim) {
            throw new UnsupportedOperationException(f.path().getFileName() + ": partial rotary embedding ("
                    + p + "rope.dimension_count " + ropeDims + " of head size " + headDim + ") is not supported");
        }
        int vocab;
        if (f.has(p + "vocab_size")) {
            vocab = f.getInt(p + "vocab_size");
        } else if (f.hasTensor(TensorNames.GGUF_TOKEN_EMBD)) {
            vocab = (int) Math.min(Integer.MAX_VALUE, f.tensor(TensorNames.GGUF_TOKEN_EMBD).ne(1));
        } else {
            vocab = f.getArray("tokenizer.ggml.tokens").size();
        }
        int ctx = f.getInt(p + "context_length", 2048);
        float eps = f.getFloat(p + "attention.layer_norm_rms_epsilon", 1e-5f);
        float theta = f.getFloat(p + "rope.freq_base", 10000f);
        RopeScaling scaling = ropeScaling(f, p, ctx, headDim);
        boolean tied = !f.hasTensor(TensorNames.GGUF_OUTPUT);
        boolean bias = f.hasTensor("blk.0.attn_q.bias");
        try {
            return new LlamaConfig(arch, dim, hidden, layers, heads, kvHeads, headDim, vocab, ctx, eps, theta, scaling,
                    !arch.equals("qwen2"), tied, bias);
        } catch (IllegalArgumentException e) {
            throw ModelFormatException.of(f.path(), "%s", e.getMessage());
        }
    }

    /**
     * Puts the model-shape keys of {@code c} into {@code w} (general.architecture and ARCH.*). Tensors written
     * with it must follow the layout {@link #read} implies: Q/K permuted for llama/mistral, not for qwen2.
     */
    public static void write(LlamaConfig c, GgufWriter w) {
        String arch = c.architecture().toLowerCase(Locale.ROOT);
        if (!ARCHS.contains(arch)) {
            throw new UnsupportedOperationException("cannot write GGUF metadata for architecture '" + arch + "'");
        }
        String p = arch + ".";
        w.putString("general.architecture", arch);
        w.putUint32(p + "context_length", c.contextLength());
        w.putUint32(p + "embedding_length", c.dim());
        w.putUint32(p + "feed_forward_length", c.hiddenDim());
        w.putUint32(p + "block_count", c.nLayers());
        w.putUint32(p + "attention.head_count", c.nHeads());
        w.putUint32(p + "attention.head_count_kv", c.nKvHeads());
        if (c.headDim() != c.dim() / c.nHeads()) {
            w.putUint32(p + "attention.key_length", c.headDim());
            w.putUint32(p + "attention.value_length", c.headDim());
        }
        w.putUint32(p + "rope.dimension_count", c.headDim());
        w.putFloat32(p + "rope.freq_base", c.ropeTheta());
        w.putFloat32(p + "attention.layer_norm_rms_epsilon", c.rmsEps());
        w.putUint32(p + "vocab_size", c.vocabSize());
        RopeScaling rs = c.ropeScaling() == null ? RopeScaling.NONE : c.ropeScaling();
        switch (rs.type()) {
            case NONE, LLAMA3, FREQUENCY_FACTORS -> { }   // the last two: the ROPE_FREQS tensor (ropeFrequencyFactors)
            case LINEAR -> {
                w.putString(p + "rope.scaling.type", "linear");
                w.putFloat32(p + "rope.scaling.factor", rs.factor());
            }
            case YARN -> {
                w.putString(p + "rope.scaling.type", "yarn");
                w.putFloat32(p + "rope.scaling.factor", rs.factor());
                w.putUint32(p + "rope.scaling.original_context_length", rs.originalContextLength());
                w.putFloat32(p + "rope.scaling.yarn_beta_fast", rs.betaFast());
                w.putFloat32(p + "rope.scaling.yarn_beta_slow", rs.betaSlow());
                float relative = rs.attentionFactor() / RopeScaling.yarnMscale(rs.factor(), 1);
                if (relative != 1f) {
                    w.putFloat32(p + "rope.scaling.attn_factor", relative);
                }
            }
        }
    }

    /**
     * The {@link TensorNames#GGUF_ROPE_FREQS} tensor {@code c} needs, or null: llama.cpp stores Llama 3.1's scaling
     * as per-pair divisors of the frequencies (its converter computes them from {@code rope_scaling}; so does
     * {@link Rope#llama3Factors}), and GGUF has no metadata keys for it.
     */
    public static float[] ropeFrequencyFactors(LlamaConfig c) {
        RopeScaling rs = c.ropeScaling() == null ? RopeScaling.NONE : c.ropeScaling();
        return switch (rs.type()) {
            case LLAMA3 -> {
                double[] d = Rope.llama3Factors(c.headDim(), c.ropeTheta(), rs);
                float[] out = new float[d.length];
                for (int i = 0; i < d.length; i++) {
                    out[i] = (float) d[i];
                }
                yield out;
            }
            case FREQUENCY_FACTORS -> rs.frequencyFactors();
            default -> null;
        };
    }

    /**
     * Rope scaling from llama.cpp's keys ({@code llama-model.cpp} {@code load_hparams}, {@code llama-context.cpp}):
     * {@code rope.scaling.type} none/linear/yarn with {@code rope.scaling.factor} (or the older
     * {@code rope.scale_linear}); for YaRN {@code original_context_length} (default: the context length),
     * {@code yarn_beta_fast}/{@code yarn_beta_slow} (default 32/1), and the attention factor llama.cpp ends up
     * with: get_mscale(s) · {@code attn_factor}, or get_mscale(s)/get_mscale(s, {@code yarn_log_multiplier}) ·
     * {@code attn_factor} when the multiplier is set. A {@code rope_freqs.weight} tensor gives per-pair divisors.
     */
    private static RopeScaling ropeScaling(GgufFile f, String p, int ctx, int headDim) throws ModelFormatException {
        String st = f.getString(p + "rope.scaling.type", "none");
        String factorKey = p + "rope.scaling.factor";
        float factor = f.has(factorKey) ? f.getFloat(factorKey) : 0f;
        if (factor == 0f && f.has(p + "rope.scale_linear")) {
            st = "linear";
            factorKey = p + "rope.scale_linear";
            factor = f.getFloat(factorKey);
        }
        if (f.hasTensor(TensorNames.GGUF_ROPE_FREQS)) {
            if (!st.equals("none") && !(st.equals("linear") && factor == 0f)) {
                throw ModelFormatException.tensor(f.path(), TensorNames.GGUF_ROPE_FREQS,
                        "per-pair rope factors together with %srope.scaling.type '%s' are not supported", p, st);
            }
            f.requireShape(TensorNames.GGUF_ROPE_FREQS, headDim / 2);
            float[] factors = f.readFloats(TensorNames.GGUF_ROPE_FREQS);
            for (int i = 0; i < factors.length; i++) {
                if (!(factors[i] > 0) || !Float.isFinite(factors[i])) {
                    throw ModelFormatException.tensor(f.path(), TensorNames.GGUF_ROPE_FREQS,
                            "factor %d is %s; every factor must be a positive number", i, factors[i]);
                }
            }
            return RopeScaling.frequencyFactors(factors);
        }
        if (st.equals("none") || st.equals("linear") && factor == 0f) {
            return RopeScaling.NONE;     // llama.cpp's default type is linear, with factor 0 meaning unscaled
        }
        if (!(factor > 0) || !Float.isFinite(factor)) {
            throw ModelFormatException.field(f.path(), factorKey, "must be a positive number for %s rope scaling, got %s",
                    st, factor);
        }
        return switch (st) {
            case "linear" -> new RopeScaling(RopeScaling.Type.LINEAR, factor, 0, 0f, 0f);
            case "yarn" -> {
                int original = f.getInt(p + "rope.scaling.original_context_length", ctx);
                if (original <= 0) {
                    throw ModelFormatException.field(f.path(), p + "rope.scaling.original_context_length",
                            "must be positive, got %d", original);
                }
                float betaFast = f.getFloat(p + "rope.scaling.yarn_beta_fast", 32f);
                float betaSlow = f.getFloat(p + "rope.scaling.yarn_beta_slow", 1f);
                if (!(betaSlow > 0) || !(betaFast > betaSlow)) {
                    throw ModelFormatException.field(f.path(), p + "rope.scaling.yarn_beta_fast",
                            "YaRN needs beta_fast > beta_slow > 0, got beta_fast %s and %srope.scaling.yarn_beta_slow %s",
                            betaFast, p, betaSlow);
                }
                float extFactor = f.getFloat(p + "rope.scaling.yarn_ext_factor", 1f);
                if (extFactor != 1f && extFactor >= 0f) {   // llama.cpp: negative means "1 for YaRN"
                    throw new UnsupportedOperationException(f.path().getFileName() + ": " + p
                            + "rope.scaling.yarn_ext_factor " + extFactor + " (a partial YaRN ramp) is not supported");
                }
                float attn = f.getFloat(p + "rope.scaling.attn_factor", 1f);
                if (!(attn > 0) || !Float.isFinite(attn)) {
                    throw ModelFormatException.field(f.path(), p + "rope.scaling.attn_factor",
                            "must be a positive number, got %s", attn);
                }
                float logMul = f.getFloat(p + "rope.scaling.yarn_log_multiplier", 0f);
                float mscale = logMul != 0f
                        ? RopeScaling.yarnMscale(factor, 1) / RopeScaling.yarnMscale(factor, logMul)
                        : RopeScaling.yarnMscale(factor, 1);
                yield RopeScaling.yarn(factor, original, betaFast, betaSlow, mscale * attn);
            }
            default -> throw new UnsupportedOperationException(f.path().getFileName() + ": " + p
                    + "rope.scaling.type '" + st + "' is not supported (supported: none, linear, yarn)");
        };
    }
}
