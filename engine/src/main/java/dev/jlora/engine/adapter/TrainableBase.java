package dev.jlora.engine.adapter;

import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Base-model tensors trained in full, in fp32, beside the adapters: the token embedding, the RMSNorm weights (every
 * block's two and the final one) and the output head. PEFT calls these {@code modules_to_save}; LISA (Pan et al.
 * 2024) always trains the embedding and the head, LongLoRA (Chen et al. 2024, §3.3) the embedding and the norms.
 *
 * <p>Each part is a trainable copy of the base tensor, initialised from its (dequantized) values, so that training
 * starts at the base model; saved adapters carry the trained values, and merging replaces the base tensors with
 * them ({@link #applyTo}). When the base ties the head to the embedding, training both parts unties them (each is
 * its own copy), as PEFT's {@code modules_to_save} does.
 *
 * <p>Parameter names follow the Hugging Face Llama module tree: {@code embed_tokens.weight} [V × C],
 * {@code layers.N.input_layernorm.weight} and {@code layers.N.post_attention_layernorm.weight} [C],
 * {@code norm.weight} [C], {@code lm_head.weight} [V × C]. Block norms share the {@code layers.N.} prefix with
 * that block's adapters, so layer-wise methods (LISA) treat them as part of the block.
 */
public final class TrainableBase {

    /** The tensor groups that can be trained. */
    public enum Part {
        EMBED, NORMS, HEAD;

        /** A comma-separated list of {@code embed}, {@code norms}, {@code head} (empty: none). */
        public static Set<Part> parse(String list) {
            var out = EnumSet.noneOf(Part.class);
            for (String s : list.split(",")) {
                String n = s.trim().toLowerCase(Locale.ROOT);
                if (n.isEmpty()) {
                    continue;
                }
                try {
                    out.add(Part.valueOf(n.toUpperCase(Locale.ROOT)));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("trainable base part '" + s.trim()
                            + "' is not one of embed, norms, head");
                }
            }
            return out;
        }

        /** The inverse of {@link #parse}. */
        public static String format(Set<Part> parts) {
            return parts.stream().map(p -> p.name().toLowerCase(Locale.ROOT)).collect(Collectors.joining(","));
        }
    }

    public static final String EMBED_NAME = "embed_tokens.weight", FINAL_NORM_NAME = "norm.weight",
            HEAD_NAME = "lm_head.weight";

    private final Set<Part> parts;
    private final int V, C;
    private final Parameter embed, finalNorm, head;
    private final Parameter[] attnNorms, ffnNorms;
    private final List<Parameter> parameters;

    private TrainableBase(LlamaWeights w, Set<Part> parts, boolean copyValues) {
        if (parts.isEmpty()) {
            throw new IllegalArgumentException("a trainable base needs at least one of embed, norms, head");
        }
        this.parts = Collections.unmodifiableSet(EnumSet.copyOf(parts));
        this.V = w.tokenEmbedding().rows();
        this.C = w.tokenEmbedding().cols();
        int L = w.layers().size();
        var params = new ArrayList<Parameter>();
        embed = parts.contains(Part.EMBED) ? matrix(EMBED_NAME, w.tokenEmbedding(), copyValues) : null;
        if (embed != null) {
            params.add(embed);
        }
        if (parts.contains(Part.NORMS)) {
            attnNorms = new Parameter[L];
            ffnNorms = new Parameter[L];
            for (int l = 0; l < L; l++) {
                LlamaWeights.Layer layer = w.layers().get(l);
                attnNorms[l] = vector("layers." + l + ".input_layernorm.weight", layer.attnNorm(), copyValues);
                ffnNorms[l] = vector("layers." + l + ".post_attention_layernorm.weight", layer.ffnNorm(), copyValues);
                params.add(attnNorms[l]);
                params.add(ffnNorms[l]);
            }
            finalNorm = vector(FINAL_NORM_NAME, w.finalNorm(), copyValues);
            params.add(finalNorm);
        } else {
            attnNorms = ffnNorms = null;
            finalNorm = null;
        }
        head = parts.contains(Part.HEAD) ? matrix(HEAD_NAME, w.output(), copyValues) : null;
        if (head != null) {
            params.add(head);
        }
        this.parameters = List.copyOf(params);
    }

    /** Trainable copies of {@code parts} of {@code weights}: training starts at the base model. */
    public static TrainableBase copyOf(LlamaWeights weights, Set<Part> parts) {
        return new TrainableBase(weights, parts, true);
    }

    /** Zero-valued tensors of the right shapes, to {@link TrainableAdapterSet#load} saved values into. */
    public static TrainableBase empty(LlamaWeights weights, Set<Part> parts) {
        return new TrainableBase(weights, parts, false);
    }

    private static Parameter matrix(String name, QuantMatrix m, boolean copy) {
        Parameter p = Parameter.zeros(name, m.rows(), m.cols());
        if (copy) {
            for (int r = 0; r < m.rows(); r++) {
                m.dequantizeRow(r, p.value(), r * m.cols());
            }
        }
        return p;
    }

    private static Parameter vector(String name, float[] v, boolean copy) {
        Parameter p = Parameter.zeros(name, v.length);
        if (copy) {
            System.arraycopy(v, 0, p.value(), 0, v.length);
        }
        return p;
    }

    public Set<Part> parts() {
        return parts;
    }

    /** The trainable tensors in a fixed order: embedding, block norms by layer, final norm, head. */
    public List<Parameter> parameters() {
        return parameters;
    }

    /** The trained embedding table [V × C], or null when the frozen one is used. */
    public Parameter embedding() {
        return embed;
    }

    /** The trained RMSNorm weight before attention of block {@code l}, or null. */
    public Parameter attnNorm(int l) {
        return attnNorms == null ? null : attnNorms[l];
    }

    /** The trained RMSNorm weight before the MLP of block {@code l}, or null. */
    public Parameter ffnNorm(int l) {
        return ffnNorms == null ? null : ffnNorms[l];
    }

    /** The trained final RMSNorm weight, or null. */
    public Parameter finalNorm() {
        return finalNorm;
    }

    /** The trained output head [V × C], or null. */
    public Parameter head() {
        return head;
    }

    /** logits [n × V] = x [n × C]·Hᵀ with the trained head (overwrites logits). */
    public void headForward(float[] x, int n, float[] logits) {
        SmallMatmul.abt(logits, x, head.value(), n, V, C);
    }

    /** Backward of {@link #headForward}: dH += dlogitsᵀ·x; dx [n × C] = dlogits·H (overwritten). */
    public void headBackward(float[] x, int n, float[] dlogits, float[] dx) {
        SmallMatmul.atbAcc(head.grad(), 1f, dlogits, x, n, V, C);
        SmallMatmul.ab(dx, 1f, dlogits, head.value(), n, C, V, false);
    }

    /** Backward of the embedding lookup: dE[token i] += dx[i] for the n rows of {@code tokens}. */
    public void embeddingBackward(int[] tokens, float[] dx) {
        float[] g = embed.grad();
        for (int i = 0; i < tokens.length; i++) {
            int o = tokens[i] * C;
            for (int c = 0; c < C; c++) {
                g[o + c] += dx[i * C + c];
            }
        }
    }

    /**
     * {@code weights} with the trained tensors in place of the base ones (fp32 matrices for the embedding and the
     * head): what merging writes, and what inference with this adapter runs on.
     */
    public LlamaWeights applyTo(LlamaWeights weights) {
        if (weights.tokenEmbedding().rows() != V || weights.tokenEmbedding().cols() != C
                || (attnNorms != null && attnNorms.length != weights.layers().size())) {
            throw new IllegalArgumentException("trainable base tensors are for V=" + V + " C=" + C
                    + " but the model has V=" + weights.tokenEmbedding().rows() + " C=" + weights.tokenEmbedding().cols());
        }
        var layers = new ArrayList<LlamaWeights.Layer>();
        for (int l = 0; l < weights.layers().size(); l++) {
            LlamaWeights.Layer L = weights.layers().get(l);
            layers.add(attnNorms == null ? L : new LlamaWeights.Layer(attnNorms[l].value().clone(), L.wq(), L.wk(),
                    L.wv(), L.wo(), L.bq(), L.bk(), L.bv(), ffnNorms[l].value().clone(), L.wGate(), L.wUp(), L.wDown()));
        }
        QuantMatrix e = embed == null ? weights.tokenEmbedding() : QuantType.F32.quantize(embed.value(), V, C);
        // A tied base head stays the frozen table when only the embedding was trained: training used it so.
        QuantMatrix out = head != null ? QuantType.F32.quantize(head.value(), V, C) : weights.output();
        float[] fn = finalNorm == null ? weights.finalNorm() : finalNorm.value().clone();
        return new LlamaWeights(e, layers, fn, out);
    }
}
