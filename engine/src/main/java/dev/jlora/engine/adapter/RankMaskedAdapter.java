package dev.jlora.engine.adapter;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The adapter behind the rank-adaptive methods (AdaLoRA, DyLoRA, IncreLoRA, CoDyRA): a low-rank update kept as
 * {@code r} rank-one components, of which a training hook (package {@code dev.jlora.engine.dynamics}) switches some
 * on and off while training runs:
 *
 * <pre>
 *   Δ(x) = s · Σ_k g_k · (drop(x)·A[k]ᵀ) · B[:,k]ᵀ,   g_k = m_k · e_k,   s = alpha / (ranknum + eps)
 * </pre>
 * with A = {@code lora_A} [r × IC] (AdaLoRA's Q, right singular vectors), B = {@code lora_B} [OC × r] (P, left
 * singular vectors), e = {@code lora_E} [r] (Λ, the singular values; absent for DyLoRA, where e_k = 1; CoDyRA's
 * gates), m = {@code rank_mask} [r] (1 = the component is in use, 0 = pruned or not grown yet) and ranknum
 * [1] the divisor of the scale (PEFT's {@code ranknum}: the initial rank for AdaLoRA, the active rank for
 * IncreLoRA and DyLoRA). Mask and ranknum are {@link #buffers()}, so a saved adapter keeps its rank pattern.
 *
 * <p>The storage is allocated at the maximum rank once and never resized: growing or pruning a rank only writes the
 * mask, so parameter shapes, the optimizer state (keyed by name and shape) and checkpoints stay the same across a
 * run. A masked component contributes nothing and gets zero gradients (its g_k is 0).
 */
public final class RankMaskedAdapter extends DroppedInputAdapter {
    /** How the components start. */
    public enum Init {
        /** AdaLoRA / IncreLoRA (PEFT's {@code reset_lora_parameters}): e = 0, A and B ~ N(0, 0.02²). */
        SVD,
        /** DyLoRA (LoRA's): A ~ U(−1/√IC, 1/√IC) as PyTorch's kaiming_uniform(a=√5), B = 0. */
        LORA,
        /** CoDyRA ({@code codyra_Linear}): A as LoRA, B = 0, gates e ~ N(0, 1). */
        GATED
    }

    private final String method;
    private final int r;
    private final float alpha, eps;
    private final Parameter a, b, e;
    private final float[] mask, ranknum;
    private final Map<String, String> methodConfig;
    private float[] weightGrad;

    /** h = xd·Aᵀ [T × r] before gating. */
    private record Saved(InputDropout drop, float[] h) implements TrainableAdapter.Saved {}

    /**
     * All components masked in, ranknum = r, parameters zero (fill with {@link #init} or {@link #load}).
     *
     * @param withE        whether the components have a trainable scale e ({@code lora_E})
     * @param eps          added to ranknum in the scale (PEFT's SVD layers use 1e-5; 0 otherwise)
     * @param methodConfig the method's own hyper-parameters, written into {@link #config()}
     */
    public RankMaskedAdapter(String method, int inFeatures, int outFeatures, int rank, float alpha, float dropout,
                             boolean withE, float eps, Map<String, String> methodConfig) {
        if (inFeatures <= 0 || outFeatures <= 0 || rank <= 0) {
            throw new IllegalArgumentException(method + ": shape and rank must be positive, got IC=" + inFeatures
                    + " OC=" + outFeatures + " rank=" + rank);
        }
        LoraConfig.checkAlpha(method, alpha);
        this.method = method;
        super(method, inFeatures, outFeatures, dropout);
        this.r = rank;
        this.alpha = alpha;
        this.eps = eps;
        this.a = Parameter.zeros("lora_A", r, IC);
        this.b = Parameter.zeros("lora_B", OC, r);
        this.e = withE ? Parameter.zeros("lora_E", r) : null;
        this.mask = new float[r];
        java.util.Arrays.fill(mask, 1f);
        this.ranknum = new float[] {r};
        this.methodConfig = new LinkedHashMap<>(methodConfig);
    }

    /** Draws the initial values (see {@link Init}) from {@code rnd}. */
    public RankMaskedAdapter init(Init how, SplittableRandom rnd) {
        float[] av = a.value(), bv = b.value();
        switch (how) {
            case SVD -> {
                for (int i = 0; i < av.length; i++) {
                    av[i] = (float) (0.02 * gaussian(rnd));
                }
                for (int i = 0; i < bv.length; i++) {
                    bv[i] = (float) (0.02 * gaussian(rnd));
                }
                if (e != null) {
                    java.util.Arrays.fill(e.value(), 0f);
                }
            }
            case LORA, GATED -> {
                RandomInit.fillUniform(av, RandomInit.kaimingBound(IC), rnd);
                java.util.Arrays.fill(bv, 0f);
                if (e != null) {
                    for (int k = 0; k < r; k++) {
                        e.value()[k] = how == Init.GATED ? (float) gaussian(rnd) : 1f;
                    }
                }
            }
        }
        return this;
    }

    /** Standard normal by Box–Muller from two uniforms (deterministic in the stream). */
    private static double gaussian(SplittableRandom rnd) {
        double u1 = 1 - rnd.nextDouble(), u2 = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    /** A [r × IC]. */
    public Parameter loraA() {
        return a;
    }

    /** B [OC × r]. */
    public Parameter loraB() {
        return b;
    }

    /** e [r], or null when the method has none (DyLoRA). */
    public Parameter loraE() {
        return e;
    }

    /** The live mask m [r]: 1 where the component is in use. Hooks write it. */
    public float[] mask() {
        return mask;
    }

    /** Storage rank r (the maximum). */
    public int maxRank() {
        return r;
    }

    /** Number of components with m_k = 1. */
    public int activeRank() {
        int n = 0;
        for (float m : mask) {
            n += m != 0 ? 1 : 0;
        }
        return n;
    }

    /** Sets the divisor of the scale s = alpha / (ranknum + eps). */
    public void setRanknum(float value) {
        if (!(value > 0)) {
            throw new IllegalArgumentException(method + ": ranknum must be positive, got " + value);
        }
        ranknum[0] = value;
    }

    public float ranknum() {
        return ranknum[0];
    }

    /** Uses the first {@code k} components only, with scale alpha / k (DyLoRA's truncation b). */
    public void truncate(int k) {
        if (k < 1 || k > r) {
            throw new IllegalArgumentException(method + ": truncated rank must be in [1, " + r + "], got " + k);
        }
        for (int i = 0; i < r; i++) {
            mask[i] = i < k ? 1f : 0f;
        }
        setRanknum(k);
    }

    public float scale() {
        return alpha / (ranknum[0] + eps);
    }

    /**
     * When on, backward also accumulates G += dyᵀ·drop(x) [OC × IC] = ∂L/∂ΔW (IncreLoRA's module score needs the
     * gradient of the whole update). Costs O(T·OC·IC) per backward and OC·IC floats, so only while needed.
     */
    public void trackWeightGradient(boolean on) {
        weightGrad = on ? (weightGrad == null ? new float[OC * IC] : weightGrad) : null;
    }

    /** The accumulated ∂L/∂ΔW (see {@link #trackWeightGradient}), or null when not tracked. */
    public float[] weightGradient() {
        return weightGrad;
    }

    /** g_k = m_k · e_k. */
    private float[] gates() {
        float[] g = new float[r];
        for (int k = 0; k < r; k++) {
            g[k] = mask[k] * (e == null ? 1f : e.value()[k]);
        }
        return g;
    }

    @Override
    public String method() {
        return method;
    }

    @Override
    public List<Parameter> parameters() {
        return e == null ? List.of(a, b) : List.of(a, e, b);
    }

    @Override
    public Map<String, float[]> buffers() {
        var m = new LinkedHashMap<String, float[]>();
        m.put("rank_mask", mask);
        m.put("ranknum", ranknum);
        return m;
    }

    @Override
    public Map<String, String> config() {
        var m = commonConfig(r, alpha);
        m.putAll(methodConfig);
        return m;
    }

    /** h = xd·Aᵀ; y += (h ⊙ s·g)·Bᵀ. */
    @Override
    Saved run(InputDropout drop, int T, float[] y) {
        float[] h = new float[T * r];
        SmallMatmul.abt(h, drop.xd(), a.value(), T, r, IC);
        SmallMatmul.abtAcc(y, 1f, gated(h, T), b.value(), T, OC, r);
        return new Saved(drop, h);
    }

    /** h ⊙ s·g, row by row. */
    private float[] gated(float[] h, int T) {
        float[] g = gates();
        float s = scale();
        float[] hg = new float[T * r];
        for (int t = 0; t < T; t++) {
            for (int k = 0; k < r; k++) {
                hg[t * r + k] = h[t * r + k] * s * g[k];
            }
        }
        return hg;
    }

    /**
     * dB += dyᵀ·(h ⊙ s·g);  dhg = dy·B;  de_k += s·m_k·Σ_t dhg[t,k]·h[t,k];  dh = dhg ⊙ s·g;  dA += dhᵀ·xd;
     * dx += drop'(dh·A). With weight-gradient tracking also G += dyᵀ·xd.
     */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved sv)) {
            throw new IllegalArgumentException(method + " backward needs the state its own forwardTrain returned, got "
                    + saved);
        }
        float[] h = sv.h(), xd = sv.drop().xd();
        float[] g = gates();
        float s = scale();
        SmallMatmul.atbAcc(b.grad(), 1f, dy, gated(h, T), T, OC, r);
        float[] dh = new float[T * r];
        SmallMatmul.ab(dh, 1f, dy, b.value(), T, r, OC, false);
        if (e != null) {
            float[] de = e.grad();
            for (int k = 0; k < r; k++) {
                double acc = 0;
                for (int t = 0; t < T; t++) {
                    acc += dh[t * r + k] * h[t * r + k];
                }
                de[k] += (float) (s * mask[k] * acc);
            }
        }
        for (int t = 0; t < T; t++) {
            for (int k = 0; k < r; k++) {
                dh[t * r + k] *= s * g[k];
            }
        }
        SmallMatmul.atbAcc(a.grad(), 1f, dh, xd, T, r, IC);
        if (weightGrad != null) {
            SmallMatmul.atbAcc(weightGrad, 1f, dy, xd, T, OC, IC);
        }
        if (dx != null) {
            float[] dxd = new float[T * IC];
            SmallMatmul.ab(dxd, 1f, dh, a.value(), T, IC, r, false);
            sv.drop().backward(dxd, dx);
        }
    }

    /** w [OC × IC] += s·B·diag(g)·A. */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        float[] g = gates();
        float[] bg = new float[OC * r];
        for (int o = 0; o < OC; o++) {
            for (int k = 0; k < r; k++) {
                bg[o * r + k] = b.value()[o * r + k] * g[k];
            }
        }
        SmallMatmul.ab(w, scale(), bg, a.value(), OC, IC, r, true);
    }

    /**
     * The same update as a plain LoRA of rank r' = number of components with g_k ≠ 0 (at least 1), with this adapter's
     * alpha: B' = columns B[:,k], A' = rows c·g_k·A[k] with c = s·r'/alpha, so that (alpha/r')·B'·A' = ΔW. Keeping one
     * alpha for every module lets formats with a single alpha (llama.cpp's LoRA GGUF) hold any rank pattern. What PEFT
     * and GGUF files hold for these methods.
     */
    public LoraAdapter toLora() {
        float[] g = gates();
        var kept = new ArrayList<Integer>();
        for (int k = 0; k < r; k++) {
            if (g[k] != 0) {
                kept.add(k);
            }
        }
        int rr = Math.max(1, kept.size());
        var lora = new LoraAdapter(IC, OC, rr, alpha, dropout, false);
        float c = scale() * rr / alpha;
        float[] la = lora.loraA().value(), lb = lora.loraB().value();
        for (int j = 0; j < kept.size(); j++) {
            int k = kept.get(j);
            for (int i = 0; i < IC; i++) {
                la[j * IC + i] = c * g[k] * a.value()[k * IC + i];
            }
            for (int o = 0; o < OC; o++) {
                lb[o * rr + j] = b.value()[o * r + k];
            }
        }
        return lora;
    }
}
