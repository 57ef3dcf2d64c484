package dev.jlora.engine.adapter;

import dev.jlora.engine.model.LlamaWeights;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The gradient of the mean training loss with respect to each frozen weight an adapter will sit on, ∂L/∂W =
 * Σ_t dyᵀ·x [OC × IC], averaged over a few minibatches: what LoRA-GA and LoRA-SB initialise from. Collected with
 * {@link InitProbe}s in one ordinary training pass per batch, so the graph needs no weight gradients of its own; the
 * buffers take as much memory as the adapted weights in fp32.
 */
public final class WeightGradients {
    private WeightGradients() {}

    /** Mean of ∂L/∂W over batches 0 … {@code batches}−1 of {@code data}, per adapted (layer, target). */
    static Map<InitProbe.Site, float[]> collect(LlamaWeights weights, Set<Target> targets, InitData data, int batches) {
        if (batches <= 0) {
            throw new IllegalArgumentException("init_batches must be positive, got " + batches);
        }
        var grads = new LinkedHashMap<InitProbe.Site, float[]>();
        var probes = TrainableAdapterSet.create(weights, targets, (layer, target, base, rnd) -> {
            float[] g = new float[base.rows() * base.cols()];
            grads.put(new InitProbe.Site(layer, target), g);
            return new InitProbe(base.cols(), base.rows(), null, g);
        }, 0);
        for (int i = 0; i < batches; i++) {
            data.forwardBackward(data.batch(i), probes, 1f / batches);
        }
        return grads;
    }

    /**
     * As {@link #collect}, indexed [layer][target ordinal] (null where no gradient was collected): the first-order
     * importance of structured pruning (LoRAM's LLM-Pruner criterion) reads it.
     */
    public static float[][][] collectByLayer(LlamaWeights weights, Set<Target> targets, InitData data, int batches) {
        var out = new float[weights.layers().size()][Target.values().length][];
        collect(weights, targets, data, batches).forEach((site, g) -> out[site.layer()][site.target().ordinal()] = g);
        return out;
    }

    /** {@code g} as float64. */
    static double[] toDoubles(float[] g) {
        double[] d = new double[g.length];
        for (int i = 0; i < g.length; i++) {
            d[i] = g[i];
        }
        return d;
    }
}
