package dev.jlora.engine.adapter;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * E LoRA experts on one linear layer, expert e being ΔW_e = s·B_e·A_e with A_e [r × IC], B_e [OC × r] (MoE-PEFT's
 * {@code experts.e} modules), mixed per token: Δ(x_t) = Σ_e w_te·s·B_e·A_e·x_t over the experts the token is routed to.
 * Compute is batched by expert: the tokens of expert e are gathered into one [n_e × IC] block, then two small
 * matmuls, then scattered back with their weights; no per-token loop over matmuls.
 */
final class LoraExperts {
    private final int IC, OC, r, E;
    private final float scale;
    private final List<Parameter> a = new ArrayList<>(), b = new ArrayList<>();

    /** h_e = X_e·A_eᵀ [n_e × r] for each expert (null when it got no tokens), saved for backward. */
    record Saved(float[][] h) {}

    LoraExperts(int inFeatures, int outFeatures, int rank, int experts, float scale) {
        if (rank < 1 || experts < 1) {
            throw new IllegalArgumentException("LoRA experts need rank ≥ 1 and at least one expert, got rank=" + rank
                    + " experts=" + experts);
        }
        this.IC = inFeatures;
        this.OC = outFeatures;
        this.r = rank;
        this.E = experts;
        this.scale = scale;
        for (int e = 0; e < experts; e++) {
            a.add(Parameter.zeros("experts." + e + ".lora_A", rank, inFeatures));
            b.add(Parameter.zeros("experts." + e + ".lora_B", outFeatures, rank));
        }
    }

    /** Every A_e as LoRA's kaiming-uniform U(−1/√IC, 1/√IC), every B_e = 0 (PEFT's LoRA init, per expert). */
    void initKaimingUniform(SplittableRandom rnd) {
        double bound = 1 / Math.sqrt(IC);
        for (Parameter p : a) {
            float[] v = p.value();
            RandomInit.fillUniform(v, bound, rnd);
        }
    }

    /**
     * Expert e := a trained LoRA of rank ≤ r, for mixtures of frozen pre-trained adapters: A as is (rows beyond its
     * rank stay 0), B·s_lora into the first columns (this set's own scale should then be 1), so that every expert
     * keeps its own alpha/rank and ΔW_e is unchanged by the padding.
     */
    void copyFrom(int e, LoraAdapter lora, String where) {
        if (lora.inFeatures() != IC || lora.outFeatures() != OC || lora.rank() > r) {
            throw new IllegalArgumentException(where + ": adapter " + e + " is " + lora.outFeatures() + "×"
                    + lora.inFeatures() + " rank " + lora.rank() + ", expected " + OC + "×" + IC + " rank ≤ " + r);
        }
        int lr = lora.rank();
        float[] A = a.get(e).value(), B = b.get(e).value();
        System.arraycopy(lora.loraA().value(), 0, A, 0, lr * IC);
        for (int o = 0; o < OC; o++) {
            for (int k = 0; k < lr; k++) {
                B[o * r + k] = lora.scale() * lora.loraB().value()[o * lr + k];
            }
        }
    }

    /** A_0, B_0, A_1, B_1, …: the order of parameters and of saved files. */
    List<Parameter> parameters() {
        var out = new ArrayList<Parameter>(2 * E);
        for (int e = 0; e < E; e++) {
            out.add(a.get(e));
            out.add(b.get(e));
        }
        return out;
    }

    int experts() {
        return E;
    }

    int rank() {
        return r;
    }

    /** y [T × OC] += Σ_e w_te·s·(x_t·A_eᵀ)·B_eᵀ over the routed pairs. Returns the h_e for backward. */
    Saved forward(float[] x, int T, Routing routing, float[] y) {
        float[][] hs = new float[E][];
        float[] w = routing.weights();
        for (int e = 0; e < E; e++) {
            int[] tok = routing.tokensOf()[e];
            int n = tok.length;
            if (n == 0) {
                continue;
            }
            float[] xe = Routing.gatherAll(x, tok, IC, T);
            float[] h = new float[n * r];
            SmallMatmul.abt(h, xe, a.get(e).value(), n, r, IC);
            float[] ye = new float[n * OC];
            SmallMatmul.abt(ye, h, b.get(e).value(), n, OC, r);
            for (int i = 0; i < n; i++) {
                int t = tok[i];
                float c = scale * w[t * E + e];
                for (int o = 0; o < OC; o++) {
                    y[t * OC + o] += c * ye[i * OC + o];
                }
            }
            hs[e] = h;
        }
        return new Saved(hs);
    }

    /**
     * Backward of {@link #forward} for expert e's tokens, with G_e the gathered rows of s·dy:
     * ∂L/∂w_te = (G_e·B_e)_t · h_t; dh = w·(G_e·B_e); dB_e += (w·G_e)ᵀ·h; dA_e += dhᵀ·X_e; dx_t += (dh·A_e)_t.
     * dWeights [T × E] and dx [T × IC] are accumulated; the experts' gradients only when {@code trainable}.
     */
    void backward(float[] x, int T, float[] dy, Routing routing, Saved saved, boolean trainable, float[] dWeights,
                  float[] dx) {
        float[] w = routing.weights();
        for (int e = 0; e < E; e++) {
            int[] tok = routing.tokensOf()[e];
            int n = tok.length;
            if (n == 0) {
                continue;
            }
            float[] h = saved.h()[e];
            float[] g = Routing.gatherRows(dy, tok, OC);   // scaled in place below
            float[] gb = new float[n * r];
            SmallMatmul.ab(gb, scale, g, b.get(e).value(), n, r, OC, false);
            for (int i = 0; i < n; i++) {
                int t = tok[i];
                float dot = 0f;
                for (int k = 0; k < r; k++) {
                    dot += gb[i * r + k] * h[i * r + k];
                }
                dWeights[t * E + e] += dot;
                float wt = w[t * E + e];
                for (int k = 0; k < r; k++) {
                    gb[i * r + k] *= wt;        // now dh
                }
                for (int o = 0; o < OC; o++) {
                    g[i * OC + o] *= wt;        // now w·G
                }
            }
            float[] xe = Routing.gatherAll(x, tok, IC, T);
            if (trainable) {
                SmallMatmul.atbAcc(b.get(e).grad(), scale, g, h, n, OC, r);
                SmallMatmul.atbAcc(a.get(e).grad(), 1f, gb, xe, n, r, IC);
            }
            if (dx != null) {
                float[] dxe = new float[n * IC];
                SmallMatmul.ab(dxe, 1f, gb, a.get(e).value(), n, IC, r, false);
                Routing.scatterAdd(dxe, tok, IC, dx);
            }
        }
    }
}
