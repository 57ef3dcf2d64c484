package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.adapter.XLoraModel;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.engine.train.TrainingHook;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * X-LoRA's two passes in training and evaluation (attached by {@code --method xlora}): before each forward, the
 * scaling pass — the model with every adapter scaled by 0, no gradient — gives the final hidden states from which the
 * {@link XLoraModel}'s head computes the per-token, per-layer scalings; after each micro-batch's backward, the head's
 * gradient is added from the ∂L/∂scalings the adapters accumulated. Logs {@code xlora_scaling_entropy} (mean Shannon
 * entropy of the per-token scalings over layers, tokens and micro-batches, nats) and {@code xlora_expert_load} (per layer, each adapter's mean scaling).
 */
public final class XLoraScaling implements TrainingHook {
    private final XLoraModel model;
    private double entropySum;
    private long rows;

    public XLoraScaling(TrainableAdapterSet adapters) {
        this.model = XLoraModel.of(adapters, adapters.layerCount());
        if (model == null) {
            throw new IllegalArgumentException("xlora: the adapters contain no X-LoRA adapter");
        }
    }

    @Override
    public String name() {
        return "xlora";
    }

    @Override
    public void beforeForward(LlamaTrainGraph graph, int[] inputs, boolean training) {
        model.setScalingPass(true);
        float[] hidden;
        try {
            hidden = graph.finalHidden(inputs);
        } finally {
            model.setScalingPass(false);
        }
        model.setHidden(hidden, inputs.length);
    }

    @Override
    public void afterMicroBatch(LlamaTrainGraph graph, int[] inputs, float gradScale) {
        model.backwardHead();
        entropySum += model.meanEntropy();
        rows++;
    }

    @Override
    public Map<String, Object> metrics() {
        var load = new ArrayList<Object>();
        for (double[] layer : model.meanScalings()) {
            var row = new ArrayList<Object>();
            for (double s : layer) {
                row.add(s);
            }
            load.add(row);
        }
        var m = new LinkedHashMap<String, Object>();
        m.put("xlora_scaling_entropy", rows == 0 ? 0.0 : entropySum / rows);
        m.put("xlora_expert_load", load);
        entropySum = 0;
        rows = 0;
        return m;
    }
}
