package dev.jlora.engine.adapter;

import java.util.Map;

/**
 * Float64 references of the mixtures of LoRA experts, written from the papers' formulas with plain loops and no code
 * shared with the fp32 classes: router softmax, the method's expert choice, the mixed expert deltas, and the
 * auxiliary loss, all as functions of x and the named tensors (so finite differences can perturb any of them).
 */
final class MixtureRefs {
    private MixtureRefs() {}

    /** Δ(x) [T × OC] and the auxiliary loss of one forward. */
    record Out(double[] delta, double aux) {}

    interface MixRef {
        Out apply(double[] x, int T, Map<String, double[]> p);
    }

    /** Chooses the experts of one token from its probabilities p[E] (scores = p + bias). */
    interface Choice {
        boolean[] choose(double[] p, double[] scores);
    }

    /** Auxiliary loss of the whole routing: probs [T × E], chosen [T × E], weights [T × E]. */
    interface Aux {
        double loss(double[] probs, boolean[] chosen, double[] weights, int T, int E);
    }

    static Choice all() {
        return (p, s) -> {
            boolean[] c = new boolean[p.length];
            java.util.Arrays.fill(c, true);
            return c;
        };
    }

    static Choice topK(int k) {
        return (p, s) -> top(s, k);
    }

    static boolean[] top(double[] s, int k) {
        boolean[] c = new boolean[s.length];
        for (int n = 0; n < k; n++) {
            int best = -1;
            for (int e = 0; e < s.length; e++) {
                if (!c[e] && (best < 0 || s[e] > s[best])) {
                    best = e;
                }
            }
            c[best] = true;
        }
        return c;
    }

    static double tsallis(double[] p, double q) {
        double s = 0;
        for (double v : p) {
            s += Math.pow(v, q);
        }
        return (1 - s) / (q - 1);
    }

    /** DynMoLE: all experts if S_q(p) ≥ h·S_q(uniform), else the fewest top experts with mass ≥ topP, at least k. */
    static Choice dynmole(double topP, int k, double q, double h) {
        return (p, s) -> {
            int E = p.length;
            double[] u = new double[E];
            java.util.Arrays.fill(u, 1.0 / E);
            if (tsallis(p, q) >= h * tsallis(u, q)) {
                return all().choose(p, s);
            }
            for (int n = 1; n <= E; n++) {
                boolean[] c = top(s, n);
                double mass = 0;
                for (int e = 0; e < E; e++) {
                    if (c[e]) {
                        mass += p[e];
                    }
                }
                if (n >= k && mass >= topP) {
                    return c;
                }
            }
            return all().choose(p, s);
        };
    }

    /**
     * Δ(x_t) = Σ_{e chosen} w_te·s·B_e·A_e·x_t with p = softmax(x·Wgᵀ), w = p (or p / Σ_chosen p when
     * {@code renorm}); {@code bias} (may be null) only shifts the choice.
     */
    static MixRef mixture(int IC, int OC, int r, int E, double s, Choice choice, boolean renorm, double[] bias, Aux aux) {
        return (x, T, p) -> {
            double[] gate = p.get("router.weight");
            double[] probs = new double[T * E], weights = new double[T * E];
            boolean[] chosen = new boolean[T * E];
            double[] y = new double[T * OC];
            for (int t = 0; t < T; t++) {
                double[] logit = new double[E];
                double max = Double.NEGATIVE_INFINITY;
                for (int e = 0; e < E; e++) {
                    for (int i = 0; i < IC; i++) {
                        logit[e] += x[t * IC + i] * gate[e * IC + i];
                    }
                    max = Math.max(max, logit[e]);
                }
                double z = 0;
                double[] pt = new double[E], st = new double[E];
                for (int e = 0; e < E; e++) {
                    pt[e] = Math.exp(logit[e] - max);
                    z += pt[e];
                }
                for (int e = 0; e < E; e++) {
                    pt[e] /= z;
                    st[e] = pt[e] + (bias == null ? 0 : bias[e]);
                    probs[t * E + e] = pt[e];
                }
                boolean[] c = choice.choose(pt, st);
                double mass = 0;
                for (int e = 0; e < E; e++) {
                    if (c[e]) {
                        mass += pt[e];
                    }
                }
                for (int e = 0; e < E; e++) {
                    if (!c[e]) {
                        continue;
                    }
                    chosen[t * E + e] = true;
                    double w = renorm ? pt[e] / mass : pt[e];
                    weights[t * E + e] = w;
                    double[] a = p.get("experts." + e + ".lora_A"), b = p.get("experts." + e + ".lora_B");
                    double[] h = new double[r];
                    for (int k = 0; k < r; k++) {
                        for (int i = 0; i < IC; i++) {
                            h[k] += a[k * IC + i] * x[t * IC + i];
                        }
                    }
                    for (int o = 0; o < OC; o++) {
                        double v = 0;
                        for (int k = 0; k < r; k++) {
                            v += b[o * r + k] * h[k];
                        }
                        y[t * OC + o] += w * s * v;
                    }
                }
            }
            return new Out(y, aux.loss(probs, chosen, weights, T, E));
        };
    }

    /** Switch load balancing: coef·E·Σ_e (count_e / divisor)·mean_t p_te, counting {@code counted}. */
    static double switchLoad(double[] probs, boolean[] counted, double divisor, int T, int E, double coef) {
        double loss = 0;
        for (int e = 0; e < E; e++) {
            double f = 0, pm = 0;
            for (int t = 0; t < T; t++) {
                f += counted[t * E + e] ? 1 : 0;
                pm += probs[t * E + e];
            }
            loss += f / divisor * pm / T;
        }
        return coef * E * loss;
    }

    /** LoRAMoE's localized balancing constraint: w·σ²(Z)/μ(Z), Z_e = I_e·Σ_t ω_te, I = 1 ± δ by expert group. */
    static Aux loramoeLbc(double delta, double weight, boolean taskSamples) {
        return (probs, chosen, weights, T, E) -> {
            double[] z = new double[E];
            double mean = 0;
            for (int e = 0; e < E; e++) {
                for (int t = 0; t < T; t++) {
                    z[e] += weights[t * E + e];
                }
                boolean taskExpert = e >= E / 2;
                z[e] *= taskExpert == taskSamples ? 1 + delta : 1 - delta;
                mean += z[e] / E;
            }
            double var = 0;
            for (int e = 0; e < E; e++) {
                var += (z[e] - mean) * (z[e] - mean) / E;
            }
            return weight * var / mean;
        };
    }

    /** DynMoLE: Switch balance over top-2 fractions (coef) + entropyCoef·mean_t S_q(p_t). */
    static Aux dynmoleAux(double coef, double entropyCoef, double q) {
        return (probs, chosen, weights, T, E) -> {
            boolean[] top2 = new boolean[T * E];
            double ent = 0;
            for (int t = 0; t < T; t++) {
                double[] pt = java.util.Arrays.copyOfRange(probs, t * E, (t + 1) * E);
                boolean[] c = top(pt, 2);
                System.arraycopy(c, 0, top2, t * E, E);
                ent += tsallis(pt, q);
            }
            return switchLoad(probs, top2, 2.0 * T, T, E, coef) + entropyCoef * ent / T;
        };
    }

    /**
     * LoRA-Mixer's Routing Specialization Loss (Eq. 5 of arXiv 2507.00029 v2): α·Σ_i p̄_i·f̄_i − λ·mean_t H(p_t), p̄ the
     * mean router probability, f̄_i = (top-k assignments of i) / (T·k), H the Shannon entropy.
     */
    static Aux loramixerRsl(double alpha, double lambda, int k) {
        return (probs, chosen, weights, T, E) -> {
            double balance = 0, entropy = 0;
            for (int e = 0; e < E; e++) {
                double f = 0, pm = 0;
                for (int t = 0; t < T; t++) {
                    f += chosen[t * E + e] ? 1 : 0;
                    pm += probs[t * E + e];
                }
                balance += (f / (T * k)) * (pm / T);
            }
            for (double p : probs) {
                entropy -= p * Math.log(p);
            }
            return alpha * balance - lambda * entropy / T;
        };
    }
}
