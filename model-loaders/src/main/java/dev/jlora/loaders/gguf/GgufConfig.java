package dev.jlora.loaders.gguf;

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
        if (f.hasTensor("rope_freqs.weight")) {
            throw new UnsupportedOperationException(f.path().getFileName()
                    + ": rope frequency factors (rope_freqs.weight, llama.cpp's form of Llama 3.1 rope scaling) are "
                    + "not supported");
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
        RopeScaling scaling = RopeScaling.NONE;
        String st = f.getString(p + "rope.scaling.type", "none");
        float factor = f.has(p + "rope.scaling.factor") ? f.getFloat(p + "rope.scaling.factor") : 0f;
        if (factor == 0f && f.has(p + "rope.scale_linear")) {
            st = "linear";
            factor = f.getFloat(p + "rope.scale_linear");
        }
        switch (st) {
            case "none" -> { }
            case "linear" -> scaling = new RopeScaling(RopeScaling.Type.LINEAR, factor, 0, 0f, 0f);
            case "yarn" -> scaling = new RopeScaling(RopeScaling.Type.YARN, factor,
                    f.getInt(p + "rope.scaling.original_context_length", ctx), 1f, 32f);
            default -> throw new UnsupportedOperationException(f.path().getFileName() + ": " + p
                    + "rope.scaling.type '" + st + "' is not supported (supported: none, linear, yarn)");
        }
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
            case NONE -> { }
            case LINEAR -> {
                w.putString(p + "rope.scaling.type", "linear");
                w.putFloat32(p + "rope.scaling.factor", rs.factor());
            }
            case YARN -> {
                w.putString(p + "rope.scaling.type", "yarn");
                w.putFloat32(p + "rope.scaling.factor", rs.factor());
                w.putUint32(p + "rope.scaling.original_context_length", rs.originalContextLength());
            }
            case LLAMA3 -> throw new UnsupportedOperationException(
                    "llama3 rope scaling in GGUF needs a rope_freqs.weight tensor, which jlora does not write yet");
        }
    }
}
