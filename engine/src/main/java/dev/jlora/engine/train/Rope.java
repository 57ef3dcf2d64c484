package dev.jlora.engine.train;

import dev.jlora.engine.model.LlamaConfig;

/**
 * Rotary position embedding (Su et al. 2021, RoFormer §3.4) for positions 0..T-1: pair i of a head is rotated by
 * pos·θ_i with θ_i = theta^(−2i/hs). The pairs are adjacent elements (2i, 2i+1) in llama.cpp's interleaved layout and
 * (i, i + hs/2) in Hugging Face's rotate-half layout ({@link LlamaConfig#ropeInterleaved()}).
 */
final class Rope {
    private final int hs, T;
    private final boolean interleaved;
    private final float[] cos, sin; // [T × hs/2]

    Rope(LlamaConfig cfg, int T) {
        this.hs = cfg.headDim();
        this.T = T;
        this.interleaved = cfg.ropeInterleaved();
        double[] freq = frequencies(cfg);
        int half = hs / 2;
        cos = new float[T * half];
        sin = new float[T * half];
        for (int p = 0; p < T; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * freq[i];
                cos[p * half + i] = (float) Math.cos(angle);
                sin[p * half + i] = (float) Math.sin(angle);
            }
        }
    }

    /** θ_i, with linear or Llama 3 scaling applied (Hugging Face {@code _compute_llama3_parameters}). */
    static double[] frequencies(LlamaConfig cfg) {
        int half = cfg.headDim() / 2;
        double[] f = new double[half];
        var sc = cfg.ropeScaling();
        for (int i = 0; i < half; i++) {
            f[i] = Math.pow(cfg.ropeTheta(), -2.0 * i / cfg.headDim());
            switch (sc.type()) {
                case NONE -> { }
                case LINEAR -> f[i] /= sc.factor();
                case LLAMA3 -> {
                    double lowWavelen = sc.originalContextLength() / sc.lowFreqFactor();
                    double highWavelen = sc.originalContextLength() / sc.highFreqFactor();
                    double wavelen = 2 * Math.PI / f[i];
                    if (wavelen > lowWavelen) {
                        f[i] /= sc.factor();
                    } else if (wavelen >= highWavelen) {
                        double smooth = (sc.originalContextLength() / wavelen - sc.lowFreqFactor())
                                / (sc.highFreqFactor() - sc.lowFreqFactor());
                        f[i] = (1 - smooth) * f[i] / sc.factor() + smooth * f[i];
                    }
                }
                case YARN -> throw new UnsupportedOperationException(
                        "training with YaRN rope scaling is not implemented (config " + cfg.architecture() + ")");
            }
        }
        return f;
    }

    /**
     * Rotates every head of x [B·T × nh·hs] in place; with {@code inverse} rotates by −angle, which is the backward
     * (the rotation is orthogonal, so its transpose is its inverse).
     */
    void apply(float[] x, int B, int nh, boolean inverse) {
        int half = hs / 2, width = nh * hs;
        for (int b = 0; b < B; b++) {
            for (int p = 0; p < T; p++) {
                int row = (b * T + p) * width;
                for (int h = 0; h < nh; h++) {
                    int base = row + h * hs;
                    for (int i = 0; i < half; i++) {
                        float c = cos[p * half + i], s = inverse ? -sin[p * half + i] : sin[p * half + i];
                        int i0 = interleaved ? base + 2 * i : base + i;
                        int i1 = interleaved ? i0 + 1 : i0 + half;
                        float x0 = x[i0], x1 = x[i1];
                        x[i0] = x0 * c - x1 * s;
                        x[i1] = x0 * s + x1 * c;
                    }
                }
            }
        }
    }
}
