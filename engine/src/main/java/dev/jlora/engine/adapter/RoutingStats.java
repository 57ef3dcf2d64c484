package dev.jlora.engine.adapter;

/** Routing statistics of one routed adapter, accumulated by its backward passes (see {@link RoutedAdapter}). */
public final class RoutingStats {
    /** Tokens routed (summed over micro-batches). */
    public long tokens;
    /** Σ over tokens of the router's Shannon entropy (nats). */
    public double entropySum;
    /** Σ over tokens of the number of experts chosen. */
    public double expertsSum;
    /** Σ over micro-batches of the auxiliary loss (already × its coefficients, before the gradient scale). */
    public double auxLoss;
    /** Micro-batches seen. */
    public int microBatches;
    /** Per expert, Σ over tokens of its mixing weight: its share of the routing mass. */
    public final double[] load;
    /** Per expert, the number of tokens sent to it. */
    public final long[] chosen;

    RoutingStats(int experts) {
        load = new double[experts];
        chosen = new long[experts];
    }

    /** Adds one micro-batch's routing and auxiliary loss. */
    void record(Routing r, double aux) {
        tokens += r.T();
        entropySum += r.meanEntropy() * r.T();
        expertsSum += r.expertsPerToken() * r.T();
        auxLoss += aux;
        microBatches++;
        float[] w = r.weights();
        int E = r.E();
        for (int i = 0; i < w.length; i++) {
            load[i % E] += w[i];
        }
        for (int e = 0; e < E; e++) {
            chosen[e] += r.tokensOf()[e].length;
        }
    }
}
