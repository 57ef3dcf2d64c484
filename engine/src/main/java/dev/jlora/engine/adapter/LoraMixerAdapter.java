package dev.jlora.engine.adapter;

import java.util.Map;
import java.util.Set;

/**
 * LoRA-Mixer (Li, Song, Zhou, Zhang, Yu and Yang 2025/ICLR 2026, "LoRA-Mixer: Coordinate Modular LoRA Experts Through
 * Serial Attention Routing", arXiv 2507.00029 v2, §3.2–3.3): the projection matrices of the attention module
 * (q, k, v, o; the input and output linear layers) each get E LoRA experts and a router, so the routed expert mixture
 * feeds serially into attention ("serial attention routing": the mixture sits inside the projection, not beside the
 * block):
 * <pre>
 *   y = W·x + Σ_{e ∈ top-k(p)} ŵ_e·(α/r)·B_e·A_e·x,   p = softmax(x·Wgᵀ),   ŵ_e = p_e / Σ_{j ∈ top-k} p_j
 * </pre>
 * the "hard–soft" top-k routing: the choice of the k experts is hard (not differentiated), their weights are the soft
 * router probabilities renormalised over the chosen ones, so the task loss trains the router through them.
 *
 * <p>The Routing Specialization Loss (RSL, Eq. 5 of v2; "Specialization Balance Loss", SBL, in v1):
 * <pre>
 *   L_RSL = α_rsl·Σ_i p̄_i·f̄_i − λ·E_x[H(p(x))]
 * </pre>
 * with p̄_i the router probability of expert i averaged over the tokens, f̄_i its normalised share of the top-k
 * assignments (count / (T·k), held constant as the gradient of Eq. 8 does: ∂/∂p_i(x) = α_rsl·f̄_i/T + λ(log p_i + 1)/T,
 * the simplex term of Eq. 8 vanishing through the softmax) and H the Shannon entropy of one token's router
 * distribution, averaged over the tokens. The sign is the printed equation's (and its gradient's): minimising L_RSL
 * raises the per-token entropy, although §3.3's prose speaks of minimising it; a negative {@code rsl_lambda} gives the
 * prose's reading.
 *
 * <p>Not available to us, and therefore jlora's choices (said plainly): the full text's routing details beyond
 * "differentiable hard–soft top-k" (we use the renormalised top-k above), the definition of f̄_i beyond "the
 * normalised score of expert i in the first k routes", and the default values of E, k, α_rsl and λ (the paper tunes
 * α and λ by grid search; its code was not released). Defaults: E = 4, k = 2, α_rsl = 0.01, λ = 0.01.
 *
 * <p>The paper's second regime, plug-and-play routing over frozen pre-trained LoRA modules, is
 * {@code frozen_experts=true} ({@link AdapterMethods#loraMixer}, {@code jlora train --method loramixer --method-arg
 * adapters=A,B}): each expert is a given LoRA (B pre-multiplied by its own alpha/r, zero-padded to the largest rank,
 * {@link LoraExperts#copyFrom}), saved as buffers; only the routers train, with the same routing and RSL.
 */
public final class LoraMixerAdapter extends LoraMixture {
    /** The attention projections LoRA-Mixer replaces; its experts go nowhere else. */
    public static final Set<Target> TARGETS = Set.of(Target.Q, Target.K, Target.V, Target.O);
    private final int topK;
    private final float rslAlpha, rslLambda;
    private final boolean frozenExperts;

    /** Trainable experts of rank {@code rank} scaled by alpha/rank (regime i). */
    public LoraMixerAdapter(int inFeatures, int outFeatures, int rank, int experts, float alpha, float dropout, int topK,
                            float rslAlpha, float rslLambda) {
        this(inFeatures, outFeatures, rank, experts, alpha, dropout, topK, rslAlpha, rslLambda, false);
    }

    /**
     * With {@code frozenExperts}, the experts are pre-trained LoRAs given by {@link #setExpert} (or a file), each carrying
     * its own scale, so this adapter's expert scale is 1 (regime ii).
     */
    public LoraMixerAdapter(int inFeatures, int outFeatures, int rank, int experts, float alpha, float dropout, int topK,
                            float rslAlpha, float rslLambda, boolean frozenExperts) {
        super(inFeatures, outFeatures, rank, experts, alpha, frozenExperts ? 1f : alpha / rank, dropout,
                ExpertSelection.topK(check(topK, experts)));
        this.frozenExperts = frozenExperts;
        if (!(rslAlpha >= 0) || Float.isInfinite(rslAlpha) || !Float.isFinite(rslLambda)) {
            throw new IllegalArgumentException("loramixer: rsl_alpha must be a finite number ≥ 0 and rsl_lambda finite, "
                    + "got rsl_alpha=" + rslAlpha + " rsl_lambda=" + rslLambda);
        }
        this.topK = topK;
        this.rslAlpha = rslAlpha;
        this.rslLambda = rslLambda;
    }

    private static int check(int topK, int experts) {
        if (experts < 2) {
            throw new IllegalArgumentException("loramixer: num_experts must be at least 2, got " + experts);
        }
        if (topK < 1 || topK > experts) {
            throw new IllegalArgumentException("loramixer: top_k must be in 1.." + experts + " (num_experts), got "
                    + topK);
        }
        return topK;
    }

    /** Refuses targets outside the attention projections: the paper places its experts there only. */
    static void checkTargets(Set<Target> targets) {
        var others = targets.stream().filter(t -> !TARGETS.contains(t)).sorted()
                .map(t -> t.name().toLowerCase(java.util.Locale.ROOT)).toList();
        if (!others.isEmpty()) {
            throw new IllegalArgumentException("loramixer routes its LoRA experts into the attention projections "
                    + "(q, k, v, o) only; remove " + String.join(", ", others) + " from --targets");
        }
    }

    /** Expert e := the pre-trained {@code lora}, frozen (regime ii only). */
    void setExpert(int e, LoraAdapter lora) {
        if (!frozenExperts) {
            throw new IllegalStateException("loramixer: pre-trained experts need frozen_experts=true");
        }
        experts.copyFrom(e, lora, "loramixer");
    }

    @Override
    protected boolean expertsTrainable() {
        return !frozenExperts;
    }

    @Override
    public String method() {
        return "loramixer";
    }

    @Override
    public Map<String, String> config() {
        var m = baseConfig();
        m.put("num_experts", Integer.toString(expertCount()));
        m.put("top_k", Integer.toString(topK));
        m.put("rsl_alpha", Float.toString(rslAlpha));
        m.put("rsl_lambda", Float.toString(rslLambda));
        m.put("frozen_experts", Boolean.toString(frozenExperts));
        return m;
    }

    @Override
    protected double auxLoss(Routing r, float[] dProbs, float scale) {
        int T = r.T(), E = r.E();
        double balance = BalanceLosses.switchLoad(r.probs(), r.chosen(), (double) T * topK, T, E, rslAlpha / E,
                dProbs, scale);
        return balance - BalanceLosses.shannonMean(r.probs(), T, E, rslLambda, dProbs, -scale);
    }
}
