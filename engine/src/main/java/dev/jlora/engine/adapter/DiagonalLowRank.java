package dev.jlora.engine.adapter;

import java.util.SplittableRandom;

/**
 * The product s·B·diag(d)·A·drop(x) with trainable A [r × IC], B [OC × r] and d [r], shared by the methods that put
 * a trainable diagonal between LoRA's factors: SoRA's gate ({@link SoraAdapter}) and KaSA's knowledge-aware singular
 * values ({@link KasaAdapter}). They differ in what d means and how it is regularised, not in this computation.
 */
final class DiagonalLowRank {
    final int IC, OC, r;
    final float scale, dropout;
    final Parameter a, b, d;

    /** h = xd·Aᵀ [T×r] (before the diagonal). */
    record Saved(InputDropout drop, float[] h) implements TrainableAdapter.Saved {}

    DiagonalLowRank(String method, int inFeatures, int outFeatures, int rank, float scale, float dropout, String diagName) {
        if (inFeatures <= 0 || outFeatures <= 0 || rank <= 0) {
            throw new IllegalArgumentException(method + " needs positive sizes, got IC=" + inFeatures + " OC=" + outFeatures
                    + " r=" + rank);
        }
        if (!Float.isFinite(scale)) {
            throw new IllegalArgumentException(method + " scale must be finite, got " + scale);
        }
        InputDropout.checkRate(method, dropout);
        this.IC = inFeatures;
        this.OC = outFeatures;
        this.r = rank;
        this.scale = scale;
        this.dropout = dropout;
        this.a = Parameter.zeros("lora_A", r, IC);
        this.b = Parameter.zeros("lora_B", OC, r);
        this.d = Parameter.zeros(diagName, r);
    }

    /** PEFT's LoRA start, A ~ U(±1/√IC) ({@code kaiming_uniform_(a=√5)}), B = 0, and d ~ N(0, 1) ({@code randn}). */
    void init(SplittableRandom rnd) {
        double bound = 1 / Math.sqrt(IC);
        float[] av = a.value();
        RandomInit.fillUniform(av, bound, rnd);
        java.util.Arrays.fill(b.value(), 0f);
        for (int j = 0; j < r; j++) {
            d.value()[j] = (float) PissaInit.gaussian(rnd);
        }
    }

    Saved forward(float[] x, int T, float[] y, float p, long seed) {
        InputDropout drop = InputDropout.apply(x, T * IC, p, seed);
        float[] h = new float[T * r];
        SmallMatmul.abt(h, drop.xd(), a.value(), T, r, IC);
        SmallMatmul.abtAcc(y, scale, diagonal(h, T), b.value(), T, OC, r);
        return new Saved(drop, h);
    }

    /** v ⊙ d per row. */
    private float[] diagonal(float[] v, int T) {
        float[] out = new float[T * r];
        float[] dv = d.value();
        for (int t = 0; t < T; t++) {
            for (int j = 0; j < r; j++) {
                out[t * r + j] = v[t * r + j] * dv[j];
            }
        }
        return out;
    }

    /** dB += s·dyᵀ·(h ⊙ d); dk = s·dy·B; dd_j += Σ_t dk_j·h_j; dA += (dk ⊙ d)ᵀ·xd; dx += drop'((dk ⊙ d)·A). */
    void backward(int T, float[] dy, Saved s, float[] dx) {
        SmallMatmul.atbAcc(b.grad(), scale, dy, diagonal(s.h(), T), T, OC, r);
        float[] dk = new float[T * r];
        SmallMatmul.ab(dk, scale, dy, b.value(), T, r, OC, false);
        float[] dd = d.grad();
        for (int j = 0; j < r; j++) {
            float acc = 0f;
            for (int t = 0; t < T; t++) {
                acc += dk[t * r + j] * s.h()[t * r + j];
            }
            dd[j] += acc;
        }
        float[] dh = diagonal(dk, T);
        SmallMatmul.atbAcc(a.grad(), 1f, dh, s.drop().xd(), T, r, IC);
        LowRankPath.inputGradient(dh, a.value(), s.drop(), T, r, IC, dx);
    }

    /** w += s·Σ_{j: d_j ≠ 0} d_j·B[:, j]·A[j, :] (components with d_j = 0 contribute nothing and are skipped). */
    void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        float[] dv = d.value(), av = a.value(), bv = b.value();
        for (int j = 0; j < r; j++) {
            if (dv[j] == 0) {
                continue;
            }
            for (int o = 0; o < OC; o++) {
                float c = scale * dv[j] * bv[o * r + j];
                for (int i = 0; i < IC; i++) {
                    w[o * IC + i] += c * av[j * IC + i];
                }
            }
        }
    }
}
