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
