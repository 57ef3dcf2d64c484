package dev.jlora.engine.adapter;

/**
 * Auxiliary routing losses shared by the mixtures, each returning its value and, when {@code dProbs} is not null,
 * adding scale·∂loss/∂p [T × E] into it (p the router probabilities).
 */
final class BalanceLosses {
    private BalanceLosses() {}

    /**
     * Switch Transformer's load-balancing loss (Fedus et al. 2022, Eq. 4–6): coef·E·Σ_e f_e·P̄_e with P̄_e the mean
     * router probability of expert e and f_e = (tokens counted for e) / {@code countDivisor}, taken as a constant
     * (argmax/top-k counts carry no gradient). {@code counted} [T × E] marks the counted (token, expert) pairs.
     */
    static double switchLoad(float[] probs, boolean[] counted, double countDivisor, int T, int E, double coef,
                             float[] dProbs, float scale) {
        if (coef == 0) {
            return 0;
        }
        double[] f = new double[E], pMean = new double[E];
        for (int t = 0; t < T; t++) {
            for (int e = 0; e < E; e++) {
                if (counted[t * E + e]) {
                    f[e] += 1;
                }
                pMean[e] += probs[t * E + e];
            }
        }
        double loss = 0;
        for (int e = 0; e < E; e++) {
            f[e] /= countDivisor;
            loss += f[e] * pMean[e] / T;
        }
        if (dProbs != null) {
            for (int t = 0; t < T; t++) {
                for (int e = 0; e < E; e++) {
                    dProbs[t * E + e] += (float) (scale * coef * E * f[e] / T);
                }
            }
        }
        return coef * E * loss;
    }

    /** Tsallis entropy S_q(p) = (1 − Σ_e p_e^q)/(q − 1) of one distribution (Shannon's in the limit q → 1). */
    static double tsallis(float[] probs, int off, int E, double q) {
        double s = 0;
        for (int e = 0; e < E; e++) {
            s += Math.pow(probs[off + e], q);
        }
        return (1 - s) / (q - 1);
    }

    /** coef·mean_t S_q(p_t); ∂/∂p_te = −coef·q·p_te^(q−1) / ((q − 1)·T). */
    static double tsallisMean(float[] probs, int T, int E, double q, double coef, float[] dProbs, float scale) {
        if (coef == 0) {
            return 0;
        }
        double sum = 0;
        for (int t = 0; t < T; t++) {
            sum += tsallis(probs, t * E, E, q);
        }
        if (dProbs != null) {
            for (int i = 0; i < T * E; i++) {
                dProbs[i] += (float) (-scale * coef * q * Math.pow(probs[i], q - 1) / ((q - 1) * T));
            }
        }
        return coef * sum / T;
    }

    /**
     * coef·mean_t H(p_t), H the Shannon entropy (nats); ∂/∂p_te = −coef·(ln p_te + 1)/T. A probability that underflowed
     * to 0 gets no gradient: the softmax's Jacobian multiplies it by p_te = 0 anyway, and p·ln p → 0.
     */
    static double shannonMean(float[] probs, int T, int E, double coef, float[] dProbs, float scale) {
        if (coef == 0) {
            return 0;
        }
        double sum = 0;
        for (int i = 0; i < T * E; i++) {
            double p = probs[i];
            if (p > 0) {
                sum -= p * Math.log(p);
                if (dProbs != null) {
                    dProbs[i] += (float) (-scale * coef * (Math.log(p) + 1) / T);
                }
            }
        }
        return coef * sum / T;
    }
}
