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

    /** cos/sin tables for positions 0 .. maxPos−1 with {@code config}'s frequencies (throws for YaRN). */
    public static RopeTables tables(LlamaConfig config, int maxPos) {
        return RopeTables.fromFrequencies(maxPos,
                inverseFrequencies(config.headDim(), config.ropeTheta(), config.ropeScaling()));
    }

    /**
     * θ_i = theta^(−2i/hs) for i < hs/2, with the scaling applied.
     * <ul>
     *   <li>LINEAR (position interpolation, Chen et al. 2023): θ_i / factor.</li>
     *   <li>LLAMA3 (Meta's Llama 3.1 {@code rope_scaling}, as Hugging Face {@code _compute_llama3_parameters}):
     *       wavelengths longer than original_ctx/low_freq_factor are divided by factor, shorter than
     *       original_ctx/high_freq_factor are kept, and those between blend the two linearly in
     *       original_ctx/wavelength.</li>
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
                requirePositive(s.factor(), "llama3 rope scaling factor");
                requirePositive(s.originalContextLength(), "llama3 rope scaling original_max_position_embeddings");
                if (!(s.highFreqFactor() > s.lowFreqFactor())) {
                    throw new IllegalArgumentException("llama3 rope scaling needs high_freq_factor > low_freq_factor, got "
                            + s.highFreqFactor() + " and " + s.lowFreqFactor());
                }
                double lowFreqWavelen = s.originalContextLength() / (double) s.lowFreqFactor();
                double highFreqWavelen = s.originalContextLength() / (double) s.highFreqFactor();
                for (int i = 0; i < f.length; i++) {
                    double wavelen = 2 * Math.PI / f[i];
                    if (wavelen > lowFreqWavelen) {
                        f[i] /= s.factor();
                    } else if (wavelen >= highFreqWavelen) {
                        double smooth = (s.originalContextLength() / wavelen - s.lowFreqFactor())
                                / (s.highFreqFactor() - s.lowFreqFactor());
                        f[i] = (1 - smooth) * f[i] / s.factor() + smooth * f[i];
                    }
                }
            }
            case YARN -> throw new UnsupportedOperationException(
                    "YaRN rope scaling (factor " + s.factor() + ") is not implemented in jlora yet; "
                            + "only none, linear and llama3 scaling are supported");
        }
        return f;
    }

    private static void requirePositive(double v, String what) {
        if (!(v > 0)) {
            throw new IllegalArgumentException(what + " must be positive, got " + v);
        }
    }
}
