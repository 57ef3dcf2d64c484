package dev.jlora.loaders;

import dev.jlora.engine.adapter.Target;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The two naming and layout conventions of Llama-family weights, in one place: GGUF (llama.cpp,
 * {@code token_embd.weight}, {@code blk.N.attn_q.weight}) and Hugging Face transformers
 * ({@code model.embed_tokens.weight}, {@code model.layers.N.self_attn.q_proj.weight}), and the Q/K row
 * permutation between them.
 *
 * <p>llama.cpp's {@code convert_hf_to_gguf.py} ({@code LlamaModel.permute}) reorders the rows of
 * {@code q_proj} and {@code k_proj} (and their biases) per head so that rotary pairs become adjacent: within a
 * head of size hs, GGUF row {@code 2i + j} is Hugging Face row {@code j·hs/2 + i} (i < hs/2, j ∈ {0, 1}). The
 * GGUF "llama" arch relies on this (its RoPE rotates adjacent pairs); qwen2 GGUFs are not permuted (NeoX RoPE).
 * {@link #permuteRowsToGguf} and {@link #permuteRowsToHf} apply it to any row-major [rows × cols] fp32 matrix:
 * weights (cols = IC), biases (cols = 1) and LoRA B matrices (cols = r), so a Hugging Face adapter applies to a
 * GGUF base and back.
 */
public final class TensorNames {

    private TensorNames() {}

    public static final String GGUF_TOKEN_EMBD = "token_embd.weight";
    public static final String GGUF_OUTPUT_NORM = "output_norm.weight";
    public static final String GGUF_OUTPUT = "output.weight";
    /** llama.cpp's per-pair rope frequency divisors (Llama 3.1 scaling), [hs/2] F32. */
    public static final String GGUF_ROPE_FREQS = "rope_freqs.weight";
    public static final String HF_EMBED_TOKENS = "model.embed_tokens.weight";
    public static final String HF_NORM = "model.norm.weight";
    public static final String HF_LM_HEAD = "lm_head.weight";

    /** {@code blk.N.attn_q.weight} etc. */
    public static String gguf(Target t, int layer) {
        return "blk." + layer + "." + t.ggufName() + ".weight";
    }

    /** {@code blk.N.attn_q.bias} etc. */
    public static String ggufBias(Target t, int layer) {
        return "blk." + layer + "." + t.ggufName() + ".bias";
    }

    public static String ggufAttnNorm(int layer) {
        return "blk." + layer + ".attn_norm.weight";
    }

    public static String ggufFfnNorm(int layer) {
        return "blk." + layer + ".ffn_norm.weight";
    }

    /** Module path without suffix, as PEFT names adapters: {@code model.layers.N.self_attn.q_proj}. */
    public static String hfModule(Target t, int layer) {
        String block = switch (t) {
            case Q, K, V, O -> "self_attn";
            case GATE, UP, DOWN -> "mlp";
        };
        return "model.layers." + layer + "." + block + "." + t.hfName();
    }

    /** {@code model.layers.N.self_attn.q_proj.weight} etc. */
    public static String hf(Target t, int layer) {
        return hfModule(t, layer) + ".weight";
    }

    /** {@code model.layers.N.self_attn.q_proj.bias} etc. */
    public static String hfBias(Target t, int layer) {
        return hfModule(t, layer) + ".bias";
    }

    public static String hfAttnNorm(int layer) {
        return "model.layers." + layer + ".input_layernorm.weight";
    }

    public static String hfFfnNorm(int layer) {
        return "model.layers." + layer + ".post_attention_layernorm.weight";
    }

    private static final Pattern GGUF_BLOCK = Pattern.compile("blk\\.(\\d+)\\.([a-z_]+)\\.(weight|bias)");
    private static final Pattern HF_BLOCK =
            Pattern.compile("model\\.layers\\.(\\d+)\\.(?:(self_attn|mlp)\\.([a-z_]+)|([a-z_]+))\\.(weight|bias)");

    /** The Hugging Face name of GGUF tensor {@code name}, or null when it has none (e.g. {@code rope_freqs.weight}). */
    public static String ggufToHf(String name) {
        switch (name) {
            case GGUF_TOKEN_EMBD -> { return HF_EMBED_TOKENS; }
            case GGUF_OUTPUT_NORM -> { return HF_NORM; }
            case GGUF_OUTPUT -> { return HF_LM_HEAD; }
            default -> { }
        }
        Matcher m = GGUF_BLOCK.matcher(name);
        if (!m.matches()) {
            return null;
        }
        int layer = Integer.parseInt(m.group(1));
        String stem = m.group(2);
        boolean weight = m.group(3).equals("weight");
        if (stem.equals("attn_norm") && weight) {
            return hfAttnNorm(layer);
        }
        if (stem.equals("ffn_norm") && weight) {
            return hfFfnNorm(layer);
        }
        for (Target t : Target.values()) {
            if (t.ggufName().equals(stem)) {
                return weight ? hf(t, layer) : hfBias(t, layer);
            }
        }
        return null;
    }

    /** The GGUF name of Hugging Face tensor {@code name}, or null when it has none. */
    public static String hfToGguf(String name) {
        switch (name) {
            case HF_EMBED_TOKENS -> { return GGUF_TOKEN_EMBD; }
            case HF_NORM -> { return GGUF_OUTPUT_NORM; }
            case HF_LM_HEAD -> { return GGUF_OUTPUT; }
            default -> { }
        }
        Matcher m = HF_BLOCK.matcher(name);
        if (!m.matches()) {
            return null;
        }
        int layer = Integer.parseInt(m.group(1));
        boolean weight = m.group(5).equals("weight");
        if (m.group(4) != null) {
            return switch (m.group(4)) {
                case "input_layernorm" -> weight ? ggufAttnNorm(layer) : null;
                case "post_attention_layernorm" -> weight ? ggufFfnNorm(layer) : null;
                default -> null;
            };
        }
        for (Target t : Target.values()) {
            if (t.hfName().equals(m.group(3)) && m.group(2).equals(t.ordinal() <= Target.O.ordinal() ? "self_attn" : "mlp")) {
                return weight ? gguf(t, layer) : ggufBias(t, layer);
            }
        }
        return null;
    }

    /** True for the targets whose rows the permutation reorders (rotary: Q and K). */
    public static boolean isRotary(Target t) {
        return t == Target.Q || t == Target.K;
    }

    /**
     * The Hugging Face row that GGUF row {@code ggufRow} holds, for heads of {@code headDim} rows:
     * {@code h·hs + 2i + j ← h·hs + j·hs/2 + i}.
     */
    public static int hfRowOfGgufRow(int ggufRow, int headDim) {
        checkHeadDim(headDim);
        int h = ggufRow / headDim;
        int k = ggufRow % headDim;
        return h * headDim + (k & 1) * (headDim / 2) + (k >> 1);
    }

    /** The GGUF row that holds Hugging Face row {@code hfRow}: the inverse of {@link #hfRowOfGgufRow}. */
    public static int ggufRowOfHfRow(int hfRow, int headDim) {
        checkHeadDim(headDim);
        int h = hfRow / headDim;
        int k = hfRow % headDim;
        int half = headDim / 2;
        return h * headDim + (k % half) * 2 + k / half;
    }

    /**
     * Hugging Face → GGUF (llama.cpp {@code permute}): returns a new row-major [rows × cols] matrix whose row
     * {@code h·hs + 2i + j} is row {@code h·hs + j·hs/2 + i} of {@code w}. {@code rows} must be a multiple of an
     * even {@code headDim} (Q: H·hs rows, K: KVH·hs rows).
     */
    public static float[] permuteRowsToGguf(float[] w, int rows, int cols, int headDim) {
        checkShape(w, rows, cols, headDim);
        float[] out = new float[w.length];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(w, hfRowOfGgufRow(r, headDim) * cols, out, r * cols, cols);
        }
        return out;
    }

    /** GGUF → Hugging Face: the inverse of {@link #permuteRowsToGguf}. */
    public static float[] permuteRowsToHf(float[] w, int rows, int cols, int headDim) {
        checkShape(w, rows, cols, headDim);
        float[] out = new float[w.length];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(w, r * cols, out, hfRowOfGgufRow(r, headDim) * cols, cols);
        }
        return out;
    }

    private static void checkHeadDim(int headDim) {
        if (headDim <= 0 || headDim % 2 != 0) {
            throw new IllegalArgumentException("rotary head size must be positive and even, got " + headDim);
        }
    }

    private static void checkShape(float[] w, int rows, int cols, int headDim) {
        checkHeadDim(headDim);
        if (rows % headDim != 0) {
            throw new IllegalArgumentException(rows + " rows are not a whole number of heads of " + headDim);
        }
        if ((long) rows * cols != w.length) {
            throw new IllegalArgumentException("matrix of " + w.length + " values is not [" + rows + " × " + cols + "]");
        }
    }
}
