package dev.jlora.engine.model;

/**
 * Shape and numerics of a Llama-family decoder (llama, mistral, qwen2).
 *
 * @param architecture     family name as the file states it ("llama", "mistral", "qwen2")
 * @param dim              model width C
 * @param hiddenDim        SwiGLU inner width
 * @param nLayers          decoder blocks
 * @param nHeads           query heads H
 * @param nKvHeads         key/value heads KVH (GQA when smaller than H)
 * @param headDim          hs; usually dim / nHeads
 * @param vocabSize        V
 * @param contextLength    trained context length
 * @param rmsEps           RMSNorm epsilon
 * @param ropeTheta        rotary base frequency
 * @param ropeScaling      rotary scaling, {@link RopeScaling#NONE} when absent
 * @param ropeInterleaved  true when Q/K rows use llama.cpp's permuted layout (rotate adjacent pairs, GGUF
 *                         "llama" arch); false for the Hugging Face layout (rotate halves, NeoX style)
 * @param tiedEmbeddings   output head shares the token embedding
 * @param attentionBias    q/k/v projections carry biases (qwen2)
 */
public record LlamaConfig(
        String architecture, int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int headDim,
        int vocabSize, int contextLength, float rmsEps, float ropeTheta, RopeScaling ropeScaling,
        boolean ropeInterleaved, boolean tiedEmbeddings, boolean attentionBias) {

    public LlamaConfig {
        if (dim <= 0 || hiddenDim <= 0 || nLayers <= 0 || nHeads <= 0 || nKvHeads <= 0 || headDim <= 0
                || vocabSize <= 0 || contextLength <= 0) {
            throw new IllegalArgumentException("all sizes must be positive: " + this);
        }
        if (nHeads % nKvHeads != 0) {
            throw new IllegalArgumentException("head count " + nHeads + " must be a multiple of kv head count " + nKvHeads);
        }
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("rotary embedding needs an even head size, got " + headDim);
        }
    }

    /**
     * This config with its context extended {@code factor} times by position interpolation (Chen, Wong, Chen &amp;
     * Tian 2023, "Extending Context Window of Large Language Models via Positional Interpolation", Eq. 2: position
     * m becomes m/factor, i.e. linear RoPE scaling), as LongLoRA (Chen et al. 2023, §4.1) extends Llama 2. A linear
     * scaling already present is compounded; other scalings are not combinable with it.
     */
    public LlamaConfig withLinearRopeScaling(float factor) {
        if (!(factor >= 1f) || !Float.isFinite(factor)) {
            throw new IllegalArgumentException("position interpolation factor must be a finite number ≥ 1, got " + factor);
        }
        float total = switch (ropeScaling.type()) {
            case NONE -> factor;
            case LINEAR -> ropeScaling.factor() * factor;
            case LLAMA3, YARN -> throw new UnsupportedOperationException("linear RoPE scaling on top of the model's "
                    + ropeScaling.type() + " scaling is not implemented: position interpolation needs a model with "
                    + "no or linear rope scaling");
        };
        return new LlamaConfig(architecture, dim, hiddenDim, nLayers, nHeads, nKvHeads, headDim, vocabSize,
                Math.toIntExact((long) Math.floor(contextLength * (double) factor)), rmsEps, ropeTheta,
                new RopeScaling(RopeScaling.Type.LINEAR, total, 0, 0f, 0f), ropeInterleaved, tiedEmbeddings,
                attentionBias);
    }

    /** Width of the key/value projections: KVH · hs. */
    public int kvDim() {
        return nKvHeads * headDim;
    }

    /** Width of the query projection: H · hs. */
    public int qDim() {
        return nHeads * headDim;
    }

    /** Rotary scaling as Hugging Face's {@code rope_scaling} and GGUF's {@code rope.scaling.*} describe it. */
    public record RopeScaling(Type type, float factor, int originalContextLength,
                              float lowFreqFactor, float highFreqFactor) {
        public enum Type { NONE, LINEAR, LLAMA3, YARN }

        public static final RopeScaling NONE = new RopeScaling(Type.NONE, 1f, 0, 0f, 0f);
    }
}
