package dev.jlora.engine.infer;

import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaConfig.RopeScaling;
import dev.jlora.simd.RopeLayout;
import dev.jlora.simd.RopeTables;

/**
 * Rotary position embedding (RoFormer, Su et al. 2021, §3.4) for a {@link LlamaConfig}: the frequencies with the
 * config's theta and scaling, and the pair layout its Q/K rows use. The rotation itself is
 * {@link dev.jlora.simd.VectorOps#ropeForward}.
 */
public final class Rope {
    private Rope() {}

    /** The pair layout of {@code config}'s Q/K rows: llama.cpp's permuted rows rotate adjacent pairs. */
    public static RopeLayout layout(LlamaConfig config) {
        return config.ropeInterleaved() ? RopeLayout.INTERLEAVED : RopeLayout.HALF_SPLIT;
    }

    /**
     * cos/sin tables for positions 0 .. maxPos−1 with {@code config}'s frequencies, multiplied by its attention
     * factor (YaRN's temperature: Hugging Face and llama.cpp both scale cos and sin, i.e. q and k, so that q·k
     * grows by its square).
     */
    public static RopeTables tables(LlamaConfig config, int maxPos) {
        RopeScaling s = config.ropeScaling() == null ? RopeScaling.NONE : config.ropeScaling();
        return RopeTables.fromFrequencies(maxPos,
                inverseFrequencies(config.headDim(), config.ropeTheta(), s), attentionFactor(s));
    }

    /** The magnitude applied to cos and sin: YaRN's attention factor, 1 for the other scalings. */
    public static float attentionFactor(RopeScaling scaling) {
        if (scaling == null || scaling.type() != RopeScaling.Type.YARN) {
            return 1f;
        }
        requirePositive(scaling.attentionFactor(), "yarn rope scaling attention_factor");
        return scaling.attentionFactor();
    }

    /**
     * θ_i = theta^(−2i/hs) for i < hs/2, with the scaling applied.
     * <ul>
     *   <li>LINEAR (position interpolation, Chen et al. 2023): θ_i / factor.</li>
     *   <li>LLAMA3 (Meta's Llama 3.1 {@code rope_scaling}, as Hugging Face {@code _compute_llama3_parameters}):
     *       wavelengths longer than original_ctx/low_freq_factor are divided by factor, shorter than
     *       original_ctx/high_freq_factor are kept, and those between blend the two linearly in
     *       original_ctx/wavelength.</li>
     *   <li>FREQUENCY_FACTORS (llama.cpp's {@code rope_freqs.weight}, how GGUF stores LLAMA3): θ_i / factors[i].</li>
     *   <li>YARN: {@link #yarn}.</li>
     * </ul>
     */
    public static double[] inverseFrequencies(int headDim, float theta, RopeScaling scaling) {
        if (theta <= 0 || !Float.isFinite(theta)) {
            throw new IllegalArgumentException("rope theta must be a positive number, got " + theta);
        }
        double[] f = new double[headDim / 2];
        for (int i = 0; i < f.length; i++) {
            f[i] = Math.pow(theta, -2.0 * i / headDim);
        }
        RopeScaling s = scaling == null ? RopeScaling.NONE : scaling;
        switch (s.type()) {
            case NONE -> { }
            case LINEAR -> {
                requirePositive(s.factor(), "linear rope scaling factor");
                for (int i = 0; i < f.length; i++) {
                    f[i] /= s.factor();
                }
            }
            case LLAMA3 -> {
                double[] divisors = llama3Factors(headDim, theta, s);
                for (int i = 0; i < f.length; i++) {
                    f[i] /= divisors[i];
                }
            }
            case FREQUENCY_FACTORS -> {
                float[] divisors = s.frequencyFactors();
                if (divisors == null || divisors.length != f.length) {
                    throw new IllegalArgumentException("rope frequency factors: need one per rotated pair (head size "
                            + headDim + " / 2 = " + f.length + "), got " + (divisors == null ? "none" : divisors.length));
                }
                for (int i = 0; i < f.length; i++) {
                    requirePositive(divisors[i], "rope frequency factor " + i);
                    f[i] /= divisors[i];
                }
            }
            case YARN -> yarn(f, headDim, theta, s);
        }
        return f;
    }

    /**
     * The divisor of each frequency under Llama 3.1's scaling: 1 (kept), factor (interpolated) or the blend
     * between them. This is what llama.cpp's converter stores as {@code rope_freqs.weight}, so θ_i / divisor_i
     * is the LLAMA3 frequency.
     */
    public static double[] llama3Factors(int headDim, float theta, RopeScaling s) {
        requirePositive(s.factor(), "llama3 rope scaling factor");
        requirePositive(s.originalContextLength(), "llama3 rope scaling original_max_position_embeddings");
        requirePositive(s.lowFreqFactor(), "llama3 rope scaling low_freq_factor");
        if (!(s.highFreqFactor() > s.lowFreqFactor())) {
            throw new IllegalArgumentException("llama3 rope scaling needs high_freq_factor > low_freq_factor, got "
                    + s.highFreqFactor() + " and " + s.lowFreqFactor());
        }
        double lowFreqWavelen = s.originalContextLength() / (double) s.lowFreqFactor();
        double highFreqWavelen = s.originalContextLength() / (double) s.highFreqFactor();
        double[] divisor = new double[headDim / 2];
        for (int i = 0; i < divisor.length; i++) {
            double wavelen = 2 * Math.PI * Math.pow(theta, 2.0 * i / headDim);
            if (wavelen > lowFreqWavelen) {
                divisor[i] = s.factor();
            } else if (wavelen >= highFreqWavelen) {
                double smooth = (s.originalContextLength() / wavelen - s.lowFreqFactor())
                        / (s.highFreqFactor() - s.lowFreqFactor());
                divisor[i] = 1 / ((1 - smooth) / s.factor() + smooth);
            } else {
                divisor[i] = 1;
            }
        }
        return divisor;
    }

    /**
     * YaRN (Peng et al. 2023, "YaRN: Efficient Context Window Extension of Large Language Models", §3.2 "NTK-by-parts"
     * and §3.4): pair i makes r_i = L / λ_i rotations over the original context L; pairs with r_i &gt; β_fast keep
     * their frequency (extrapolation), pairs with r_i &lt; β_slow are divided by s (interpolation), and γ ramps
     * linearly between them. The ramp runs over pair indices between the dimensions where r = β_fast and r = β_slow,
     * rounded outwards (floor/ceil) and clamped to [0, hs−1], as Hugging Face's {@code _compute_yarn_parameters}
     * and llama.cpp's {@code ggml_rope_yarn_corr_dims} both do (the paper's ramp in r is continuous; the reference
     * implementations round the bounds, and jlora follows them so that checkpoints behave as trained).
     */
    private static void yarn(double[] f, int headDim, float theta, RopeScaling s) {
        requirePositive(s.factor(), "yarn rope scaling factor");
        requirePositive(s.originalContextLength(), "yarn rope scaling original_max_position_embeddings");
        requirePositive(s.betaSlow(), "yarn rope scaling beta_slow");
        if (!(s.betaFast() > s.betaSlow())) {
            throw new IllegalArgumentException("yarn rope scaling needs beta_fast > beta_slow, got " + s.betaFast()
                    + " and " + s.betaSlow());
        }
        double low = Math.max(Math.floor(correctionDim(s.betaFast(), headDim, theta, s.originalContextLength())), 0);
        double high = Math.min(Math.ceil(correctionDim(s.betaSlow(), headDim, theta, s.originalContextLength())),
                headDim - 1);
        double span = low == high ? 0.001 : high - low;   // HF: "prevent singularity"; llama.cpp max(0.001, ·)
        for (int i = 0; i < f.length; i++) {
            double ramp = Math.clamp((i - low) / span, 0.0, 1.0);
            double extrapolation = 1 - ramp;                 // weight of the unscaled frequency
            f[i] = f[i] / s.factor() * (1 - extrapolation) + f[i] * extrapolation;
        }
    }

    /** The dimension d where pair d/2 turns {@code rotations} times over {@code ctx} positions (YaRN §3.2, r = L/λ solved for d). */
    private static double correctionDim(double rotations, int headDim, double theta, int ctx) {
        return headDim * Math.log(ctx / (rotations * 2 * Math.PI)) / (2 * Math.log(theta));
    }

    private static void requirePositive(double v, String what) {
        if (!(v > 0) || !Double.isFinite(v)) {
            throw new IllegalArgumentException(what + " must be a positive number, got " + v);
        }
    }
}
