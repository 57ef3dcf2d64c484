package dev.jlora.engine.infer;

import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaConfig.RopeScaling;

/**
 * Rotary position embedding (RoFormer, Su et al. 2021, §3.4): pair i of a head of size hs turns by the angle
 * pos·θ_i with θ_i = base^(−2i/hs). Which elements form pair i depends on how the Q/K rows are stored:
 * <ul>
 *   <li>interleaved (llama.cpp's permuted GGUF "llama" rows, ggml's {@code LLAMA_ROPE_TYPE_NORM}):
 *       pair i is (2i, 2i+1);</li>
 *   <li>half-split (Hugging Face rows, ggml's NeoX type): pair i is (i, i + hs/2).</li>
 * </ul>
 * Angles are computed in double from the inverse frequencies, once per position, and shared by all heads and layers.
 */
public final class Rope {
    private final double[] invFreq;
    private final boolean interleaved;

    /** Frequencies for {@code config}'s head size, theta and scaling; throws for YaRN, which jlora does not do yet. */
    public Rope(LlamaConfig config) {
        this.invFreq = inverseFrequencies(config.headDim(), config.ropeTheta(), config.ropeScaling());
        this.interleaved = config.ropeInterleaved();
    }

    /** Pairs per head: hs/2. */
    public int pairs() {
        return invFreq.length;
    }

    /**
     * θ_i for i < hs/2, with the scaling applied.
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

    /** cos[off + i] = cos(pos·θ_i), sin[off + i] = sin(pos·θ_i) for i < hs/2. */
    public void angles(int pos, float[] cos, float[] sin, int off) {
        for (int i = 0; i < invFreq.length; i++) {
            double a = pos * invFreq[i];
            cos[off + i] = (float) Math.cos(a);
            sin[off + i] = (float) Math.sin(a);
        }
    }

    /**
     * Rotates {@code nHeads} consecutive heads of size hs starting at {@code v[off]} in place, with the angles at
     * {@code cos/sin[csOff .. csOff + hs/2)}.
     */
    public void rotate(float[] v, int off, int nHeads, float[] cos, float[] sin, int csOff) {
        int half = invFreq.length;
        int hs = 2 * half;
        for (int h = 0; h < nHeads; h++) {
            int base = off + h * hs;
            if (interleaved) {
                for (int i = 0; i < half; i++) {
                    float c = cos[csOff + i], s = sin[csOff + i];
                    float a = v[base + 2 * i], b = v[base + 2 * i + 1];
                    v[base + 2 * i] = a * c - b * s;
                    v[base + 2 * i + 1] = a * s + b * c;
                }
            } else {
                for (int i = 0; i < half; i++) {
                    float c = cos[csOff + i], s = sin[csOff + i];
                    float a = v[base + i], b = v[base + i + half];
                    v[base + i] = a * c - b * s;
                    v[base + i + half] = a * s + b * c;
                }
            }
        }
    }
}
