package dev.jlora.engine.adapter;

/**
 * Which experts a token is sent to, given its router probabilities: the non-differentiable half of routing. The
 * mixing weights of the chosen experts are then their probabilities, renormalised over the chosen set when
 * {@link #renormalize()} (top-k with renormalisation, as Mixtral and MoE-PEFT's MoLA/MixLoRA do).
 */
interface ExpertSelection {

    /**
     * Marks the experts of one token: {@code chosen[off + e] = true} for each chosen e &lt; E. {@code scores} are the
     * probabilities, or probabilities plus a selection bias (SMoRA's load balancing); {@code probs} are the router
     * probabilities alone. Both rows start at {@code off}; {@code chosen} is all false on entry.
     */
    void choose(float[] probs, float[] scores, int off, int E, boolean[] chosen);

    /** Whether the mixing weights are the probabilities divided by their sum over the chosen experts. */
    boolean renormalize();

    /** Every expert, weighted by its probability (soft routing, LoRAMoE). */
    ExpertSelection ALL = new ExpertSelection() {
        @Override
        public void choose(float[] probs, float[] scores, int off, int E, boolean[] chosen) {
            java.util.Arrays.fill(chosen, off, off + E, true);
        }

        @Override
        public boolean renormalize() {
            return false;
        }
    };

    /** The k highest scores (ties to the lower index), weights renormalised over them. */
    static ExpertSelection topK(int k) {
        return new ExpertSelection() {
            @Override
            public void choose(float[] probs, float[] scores, int off, int E, boolean[] chosen) {
                markTopK(scores, off, E, k, chosen);
            }

            @Override
            public boolean renormalize() {
                return true;
            }
        };
    }

    /** Marks the k largest of scores[off .. off+E) not marked yet (ties to the lower index). */
    static void markTopK(float[] scores, int off, int E, int k, boolean[] chosen) {
        for (int n = 0; n < Math.min(k, E); n++) {
            int best = -1;
            for (int e = 0; e < E; e++) {
                if (!chosen[off + e] && (best < 0 || scores[off + e] > scores[off + best])) {
                    best = e;
                }
            }
            chosen[off + best] = true;
        }
    }
}
