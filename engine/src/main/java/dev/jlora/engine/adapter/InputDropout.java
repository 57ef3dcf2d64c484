package dev.jlora.engine.adapter;

import java.util.SplittableRandom;

/**
 * Inverted dropout on an adapter's input, with the same draws as {@link LoraAdapter}: one {@code nextDouble()} per
 * element from {@code new SplittableRandom(seed)}, kept when ≥ p, kept values scaled by 1/(1−p). Deterministic in
 * the seed, as activation checkpointing requires.
 *
 * @param xd   the dropped input, or x itself when p = 0
 * @param keep the mask, null when p = 0
 */
record InputDropout(float[] xd, boolean[] keep, float p) {

    static InputDropout apply(float[] x, int n, float p, long seed) {
        if (p == 0) {
            return new InputDropout(x, null, 0);
        }
        float[] xd = new float[n];
        boolean[] keep = new boolean[n];
        var rnd = new SplittableRandom(seed);
        float s = 1f / (1f - p);
        for (int i = 0; i < n; i++) {
            keep[i] = rnd.nextDouble() >= p;
            xd[i] = keep[i] ? x[i] * s : 0f;
        }
        return new InputDropout(xd, keep, p);
    }

    /** dx += ∂xd/∂x · dxd (the mask and 1/(1−p), or identity). */
    void backward(float[] dxd, float[] dx) {
        if (keep == null) {
            for (int i = 0; i < dxd.length; i++) {
                dx[i] += dxd[i];
            }
            return;
        }
        float s = 1f / (1f - p);
        for (int i = 0; i < dxd.length; i++) {
            if (keep[i]) {
                dx[i] += dxd[i] * s;
            }
        }
    }

    static void checkRate(String method, float p) {
        if (!(p >= 0 && p < 1)) {
            throw new IllegalArgumentException(method + " dropout must be in [0, 1), got " + p);
        }
    }
}
