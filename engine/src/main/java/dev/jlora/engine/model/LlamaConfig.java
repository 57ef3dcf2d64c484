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
            case LLAMA3, YARN, FREQUENCY_FACTORS -> throw new UnsupportedOperationException("linear RoPE scaling on top of the model's "
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

    /**
     * Rotary scaling as Hugging Face's {@code rope_scaling} and GGUF's {@code rope.scaling.*} describe it; the
     * frequencies it gives are {@link dev.jlora.engine.infer.Rope#inverseFrequencies}.
     *
     * @param type                  the family
     * @param factor                context extension s (LINEAR, LLAMA3, YARN)
     * @param originalContextLength the pre-trained context (LLAMA3, YARN: {@code original_max_position_embeddings})
     * @param lowFreqFactor         LLAMA3 {@code low_freq_factor}; for YARN {@code beta_slow}
     * @param highFreqFactor        LLAMA3 {@code high_freq_factor}; for YARN {@code beta_fast}
     * @param attentionFactor       magnitude multiplying cos and sin, i.e. q and k (YaRN's attention temperature,
     *                              {@code attention_factor}; 1 for the other families)
     * @param frequencyFactors      FREQUENCY_FACTORS: llama.cpp's {@code rope_freqs.weight}, one divisor per
     *                              rotated pair; null otherwise
     */
    public record RopeScaling(Type type, float factor, int originalContextLength,
                              float lowFreqFactor, float highFreqFactor, float attentionFactor,
                              float[] frequencyFactors) {
        /**
         * NONE, LINEAR (position interpolation), LLAMA3 (Llama 3.1's wavelength bands), YARN (Peng et al. 2023),
         * FREQUENCY_FACTORS (per-pair divisors stored as a tensor: how GGUF stores Llama 3.1's scaling).
         */
        public enum Type { NONE, LINEAR, LLAMA3, YARN, FREQUENCY_FACTORS }

        public static final RopeScaling NONE = new RopeScaling(Type.NONE, 1f, 0, 0f, 0f);

        /** A scaling without per-pair factors; YARN gets YaRN's default attention factor 0.1·ln(s) + 1. */
        public RopeScaling(Type type, float factor, int originalContextLength, float lowFreqFactor, float highFreqFactor) {
            this(type, factor, originalContextLength, lowFreqFactor, highFreqFactor,
                    type == Type.YARN ? yarnMscale(factor, 1f) : 1f, null);
        }

        /** YaRN with explicit β_fast, β_slow and attention factor (HF {@code rope_scaling} of type yarn). */
        public static RopeScaling yarn(float factor, int originalContextLength, float betaFast, float betaSlow,
                                       float attentionFactor) {
            return new RopeScaling(Type.YARN, factor, originalContextLength, betaSlow, betaFast, attentionFactor, null);
        }

        /** Per-pair divisors of the frequencies (GGUF's {@code rope_freqs.weight}). */
        public static RopeScaling frequencyFactors(float[] factors) {
            return new RopeScaling(Type.FREQUENCY_FACTORS, 1f, 0, 0f, 0f, 1f, factors.clone());
        }

        /** A copy of the per-pair divisors, or null. */
        @Override public float[] frequencyFactors() {
            return frequencyFactors == null ? null : frequencyFactors.clone();
        }

        /** YaRN's β_fast (stored in {@link #highFreqFactor}). */
        public float betaFast() {
            return highFreqFactor;
        }

        /** YaRN's β_slow (stored in {@link #lowFreqFactor}). */
        public float betaSlow() {
            return lowFreqFactor;
        }

        /**
         * YaRN's attention temperature for scale s (Peng et al. 2023, §3.4: √(1/t) = 0.1·ln(s) + 1), with
         * DeepSeek's {@code mscale} multiplier as Hugging Face's {@code get_mscale}: 1 for s ≤ 1.
         */
        public static float yarnMscale(double s, double mscale) {
            return s <= 1 ? 1f : (float) (0.1 * mscale * Math.log(s) + 1.0);
        }

        @Override public boolean equals(Object o) {
            return o instanceof RopeScaling r && r.type == type && Float.compare(r.factor, factor) == 0
                    && r.originalContextLength == originalContextLength
                    && Float.compare(r.lowFreqFactor, lowFreqFactor) == 0
                    && Float.compare(r.highFreqFactor, highFreqFactor) == 0
                    && Float.compare(r.attentionFactor, attentionFactor) == 0
                    && java.util.Arrays.equals(r.frequencyFactors, frequencyFactors);
        }

        @Override public int hashCode() {
            return java.util.Objects.hash(type, factor, originalContextLength, lowFreqFactor, highFreqFactor,
                    attentionFactor, java.util.Arrays.hashCode(frequencyFactors));
        }

        @Override public String toString() {
            return "RopeScaling[" + type + (type == Type.NONE ? "" : type == Type.FREQUENCY_FACTORS
                    ? " " + java.util.Arrays.toString(frequencyFactors)
                    : " factor=" + factor + ", originalContextLength=" + originalContextLength + ", low/betaSlow="
                            + lowFreqFactor + ", high/betaFast=" + highFreqFactor + ", attentionFactor="
                            + attentionFactor) + "]";
        }
    }
}
