package dev.jlora.engine.adapter;

import java.util.SplittableRandom;

/**
 * A token router: logits = x·Wgᵀ (Wg [E × IC], no bias, as in Mixtral, MoE-PEFT and the LoRA-MoE papers),
 * probabilities p = softmax(logits), the experts chosen by an {@link ExpertSelection}, and mixing weights w = p on
 * the chosen experts (divided by their sum when the selection renormalises). Selection is not differentiated; the
 * weights are, through the softmax, into Wg and x.
 */
final class Router {
    private final int IC, E;
    private final Parameter gate;

    /** A router named {@code router.weight} [E × IC], zero until {@link #initNormal} or a load. */
    Router(int inFeatures, int experts) {
        if (experts < 1) {
            throw new IllegalArgumentException("a router needs at least one expert, got " + experts);
        }
        this.IC = inFeatures;
        this.E = experts;
        this.gate = Parameter.zeros("router.weight", experts, inFeatures);
    }

    /** Wg ~ N(0, std²): MoE-PEFT's {@code router_init_range} (0.02) initialisation of the gate. */
    void initNormal(SplittableRandom rnd, double std) {
        float[] g = gate.value();
        for (int i = 0; i < g.length; i++) {
            g[i] = (float) (gaussian(rnd) * std);
        }
    }

    static double gaussian(SplittableRandom rnd) {
        double u1 = rnd.nextDouble(), u2 = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    }

    Parameter gate() {
        return gate;
    }

    int experts() {
        return E;
    }

    /**
     * Routes T tokens x [T × IC]. {@code selectionBias} (null for none) is added to the probabilities for choosing
     * only, never to the weights.
     */
    Routing route(float[] x, int T, ExpertSelection selection, float[] selectionBias) {
        float[] probs = new float[T * E];
        SmallMatmul.abt(probs, x, gate.value(), T, E, IC);
        for (int t = 0; t < T; t++) {
            softmaxRow(probs, t * E, E);
        }
        float[] scores = probs;
        if (selectionBias != null) {
            scores = probs.clone();
            for (int t = 0; t < T; t++) {
                for (int e = 0; e < E; e++) {
                    scores[t * E + e] += selectionBias[e];
                }
            }
        }
        boolean[] chosen = new boolean[T * E];
        float[] weights = new float[T * E];
        for (int t = 0; t < T; t++) {
            int o = t * E;
            selection.choose(probs, scores, o, E, chosen);
            double z = 0;
            for (int e = 0; e < E; e++) {
                if (chosen[o + e]) {
                    z += probs[o + e];
                }
            }
            float inv = selection.renormalize() ? (float) (1 / z) : 1f;
            for (int e = 0; e < E; e++) {
                if (chosen[o + e]) {
                    weights[o + e] = probs[o + e] * inv;
                }
            }
        }
        return new Routing(T, E, probs, chosen, weights, Routing.group(chosen, T, E));
    }

    /** In place: row[off .. off+n) = softmax(row[off .. off+n)), max-shifted, summed in double. */
    static void softmaxRow(float[] row, int off, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, row[off + i]);
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(row[off + i] - max);
            row[off + i] = e;
            sum += e;
        }
        float inv = (float) (1 / sum);
        for (int i = 0; i < n; i++) {
            row[off + i] *= inv;
        }
    }

    /**
     * Backward of {@link #route}: given dWeights [T × E] = ∂L/∂w and, when not null, dProbs [T × E] = ∂L/∂p from an
     * auxiliary loss, accumulates Wg's gradient and dx [T × IC] (when not null). With renormalisation
     * w_e = p_e / Z over the chosen set S: ∂L/∂p_e = (∂L/∂w_e − Σ_{j∈S} ∂L/∂w_j·w_j) / Z for e ∈ S; then the
     * softmax: ∂L/∂logit_e = p_e·(∂L/∂p_e − Σ_j p_j·∂L/∂p_j); dWg += dlogitsᵀ·x, dx += dlogits·Wg.
     */
    void backward(float[] x, int T, Routing r, boolean renormalize, float[] dWeights, float[] dProbs, float[] dx) {
        float[] dLogits = new float[T * E];
        float[] p = r.probs(), w = r.weights();
        boolean[] chosen = r.chosen();
        for (int t = 0; t < T; t++) {
            int o = t * E;
            double inner = 0, z = 0;
            for (int e = 0; e < E; e++) {
                if (chosen[o + e]) {
                    inner += (double) dWeights[o + e] * w[o + e];
                    z += p[o + e];
                }
            }
            double dot = 0;
            for (int e = 0; e < E; e++) {
                double dp = 0;
                if (chosen[o + e]) {
                    dp = renormalize ? (dWeights[o + e] - inner) / z : dWeights[o + e];
                }
                if (dProbs != null) {
                    dp += dProbs[o + e];
                }
                dLogits[o + e] = (float) dp;
                dot += p[o + e] * dp;
            }
            for (int e = 0; e < E; e++) {
                dLogits[o + e] = (float) (p[o + e] * (dLogits[o + e] - dot));
            }
        }
        SmallMatmul.atbAcc(gate.grad(), 1f, dLogits, x, T, E, IC);
        if (dx != null) {
            SmallMatmul.ab(dx, 1f, dLogits, gate.value(), T, IC, E, true);
        }
    }
}
