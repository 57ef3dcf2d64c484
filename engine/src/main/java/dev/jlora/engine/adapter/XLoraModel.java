package dev.jlora.engine.adapter;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The shared part of an X-LoRA model (Buehler &amp; Buehler 2024, "X-LoRA: Mixture of Low-Rank Adapter Experts", §2):
 * the scaling head and the scalings it computed for the tokens about to be run. The head is PEFT's
 * {@code XLoraClassifier} at depth 1 with layer-wise scalings: one linear map from the final hidden state h_t of the
 * scaling pass (the model run with every adapter scaled by 0, PEFT's {@code scaling_pass_value}, without
 * gradient) to logits [L × N]; scalings = softmax over the N adapters of logits / {@code softmax_temperature}, per
 * token and layer. Layer l's rows of the head (W_l [N × C], b_l [N]) are owned by that layer's first adapter, so the
 * saved file holds them as {@code layers.l.<first target>.xlora_classifier.weight|bias}.
 *
 * <p>Protocol per forward: {@link #setScalingPass}(true), base forward to get h (adapters add nothing), false,
 * {@link #setHidden}; then the scaled forward (and backward, which accumulates ∂L/∂scalings); then
 * {@link #backwardHead} adds the head's gradient. The {@code XLoraScaling} training hook runs this in training and
 * evaluation, {@code InferenceSession} in generation. Not thread-safe: one model per running sequence.
 */
public final class XLoraModel {
    private final int L, C, N;
    private final float temperature;
    private final List<Parameter> weight = new ArrayList<>(), bias = new ArrayList<>();
    private float[][] scalings, dScalings;
    private float[] hidden;
    private int T = -1;
    private boolean scalingPass;

    public XLoraModel(int layers, int dim, int adapters, float temperature) {
        if (adapters < 1 || !(temperature > 0)) {
            throw new IllegalArgumentException("xlora needs at least one adapter and a positive softmax_temperature, got "
                    + adapters + " and " + temperature);
        }
        this.L = layers;
        this.C = dim;
        this.N = adapters;
        this.temperature = temperature;
        for (int l = 0; l < layers; l++) {
            weight.add(Parameter.zeros("xlora_classifier.weight", adapters, dim));
            bias.add(Parameter.zeros("xlora_classifier.bias", adapters));
        }
    }

    /** PyTorch's {@code nn.Linear} default: W, b ~ U(−1/√C, 1/√C) (PEFT leaves the classifier at it). */
    void initialize(SplittableRandom rnd) {
        double bound = 1 / Math.sqrt(C);
        for (int l = 0; l < L; l++) {
            for (Parameter p : List.of(weight.get(l), bias.get(l))) {
                float[] v = p.value();
                RandomInit.fillUniform(v, bound, rnd);
            }
        }
    }

    /** The head rows of layer l: W_l [N × C] and b_l [N]. */
    List<Parameter> head(int layer) {
        return List.of(weight.get(layer), bias.get(layer));
    }

    public int adapters() {
        return N;
    }

    public float temperature() {
        return temperature;
    }

    /** While true, every X-LoRA adapter adds nothing (the scaling pass). */
    public void setScalingPass(boolean on) {
        this.scalingPass = on;
    }

    boolean scalingPass() {
        return scalingPass;
    }

    /** Takes h [T × C] (the scaling pass's final normalised hidden states) and computes every layer's scalings. */
    public void setHidden(float[] h, int tokens) {
        if (h.length != tokens * C) {
            throw new IllegalArgumentException("xlora: hidden states must be [" + tokens + " × " + C + "], got "
                    + h.length + " values");
        }
        this.hidden = h;
        this.T = tokens;
        scalings = new float[L][];
        dScalings = new float[L][];
        for (int l = 0; l < L; l++) {
            float[] s = new float[tokens * N];
            SmallMatmul.abt(s, h, weight.get(l).value(), tokens, N, C);
            float[] b = bias.get(l).value();
            for (int t = 0; t < tokens; t++) {
                for (int a = 0; a < N; a++) {
                    s[t * N + a] = (s[t * N + a] + b[a]) / temperature;
                }
                Router.softmaxRow(s, t * N, N);
            }
            scalings[l] = s;
            dScalings[l] = new float[tokens * N];
        }
    }

    /** The scalings of layer l as a routing over all N adapters, for a forward of {@code tokens} rows. */
    Routing routing(int layer, int tokens) {
        if (tokens != T) {
            throw new IllegalStateException("xlora: the scalings were computed for " + T + " tokens but this forward "
                    + "has " + tokens + "; run the scaling pass first (the xlora training hook, or InferenceSession)");
        }
        boolean[] all = new boolean[tokens * N];
        java.util.Arrays.fill(all, true);
        float[] s = scalings[layer];
        return new Routing(tokens, N, s, all, s, Routing.group(all, tokens, N));
    }

    /** Adds ∂L/∂scalings [T × N] of layer l (from one adapted linear's backward). */
    void addScalingGrad(int layer, float[] d) {
        float[] acc = dScalings[layer];
        for (int i = 0; i < acc.length; i++) {
            acc[i] += d[i];
        }
    }

    /**
     * Head backward: per layer, ∂L/∂logits = softmax'(∂L/∂scalings)/temperature, W_l.grad += dlogitsᵀ·h,
     * b_l.grad += Σ_t dlogits; then clears the accumulated ∂L/∂scalings. h has no gradient (the scaling pass).
     */
    public void backwardHead() {
        for (int l = 0; l < L; l++) {
            float[] s = scalings[l], ds = dScalings[l], dLogits = new float[T * N];
            float[] db = bias.get(l).grad();
            for (int t = 0; t < T; t++) {
                double dot = 0;
                for (int a = 0; a < N; a++) {
                    dot += (double) s[t * N + a] * ds[t * N + a];
                }
                for (int a = 0; a < N; a++) {
                    float d = (float) (s[t * N + a] * (ds[t * N + a] - dot) / temperature);
                    dLogits[t * N + a] = d;
                    db[a] += d;
                }
            }
            SmallMatmul.atbAcc(weight.get(l).grad(), 1f, dLogits, hidden, T, N, C);
            java.util.Arrays.fill(ds, 0f);
        }
    }

    /** Per layer, the current scalings averaged over tokens (each row sums to 1): for metrics. */
    public double[][] meanScalings() {
        double[][] out = new double[L][N];
        for (int l = 0; scalings != null && l < L; l++) {
            for (int i = 0; i < T * N; i++) {
                out[l][i % N] += scalings[l][i] / T;
            }
        }
        return out;
    }

    /** Mean Shannon entropy (nats) of the current scalings over layers and tokens. */
    public double meanEntropy() {
        double h = 0;
        for (int l = 0; scalings != null && l < L; l++) {
            for (float s : scalings[l]) {
                h -= s > 0 ? s * Math.log(s) : 0;
            }
        }
        return scalings == null ? 0 : h / ((double) L * T);
    }

    /** The X-LoRA model behind {@code adapters}, or null when they are not X-LoRA. */
    public static XLoraModel of(AdapterSet adapters, int layers) {
        for (int l = 0; l < layers; l++) {
            for (Target t : Target.values()) {
                if (adapters.get(l, t) instanceof XLoraAdapter x) {
                    return x.model();
                }
            }
        }
        return null;
    }
}
