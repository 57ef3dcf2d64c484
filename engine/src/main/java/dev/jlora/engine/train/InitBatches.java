package dev.jlora.engine.train;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.InitData;
import dev.jlora.engine.data.Batch;
import dev.jlora.engine.data.BatchSampler;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.model.LlamaModel;
import java.util.ArrayList;
import java.util.List;

/**
 * {@link InitData} over the training data: batch i is the i-th batch a {@link BatchSampler} with the given seed draws
 * (the same order training starts with), run through a {@link LlamaTrainGraph} on the frozen weights. One graph is
 * kept per probe set, so repeated passes with the same probes allocate nothing.
 */
public final class InitBatches implements InitData {
    private final LlamaModel model;
    private final BatchSampler sampler;
    private final int B, T;
    private final List<Batch> drawn = new ArrayList<>();
    private AdapterSet graphAdapters;
    private LlamaTrainGraph graph;

    public InitBatches(LlamaModel model, Dataset data, int batchSize, long seed) {
        this.model = model;
        this.sampler = new BatchSampler(data, batchSize, seed);
        this.B = batchSize;
        this.T = data.T();
    }

    @Override
    public Batch batch(int i) {
        if (i < 0) {
            throw new IllegalArgumentException("batch index must be ≥ 0, got " + i);
        }
        while (drawn.size() <= i) {
            drawn.add(sampler.next());
        }
        return drawn.get(i);
    }

    @Override
    public void forward(Batch batch, AdapterSet probes) {
        graphFor(probes).loss(batch.inputs(), batch.targets());
    }

    @Override
    public void forwardBackward(Batch batch, AdapterSet probes, float gradScale) {
        graphFor(probes).forwardBackward(batch.inputs(), batch.targets(), 0, gradScale);
    }

    private LlamaTrainGraph graphFor(AdapterSet probes) {
        if (graph == null || graphAdapters != probes) {
            graph = new LlamaTrainGraph(model.config(), model.weights(), probes, B, T, false);
            graphAdapters = probes;
        }
        return graph;
    }
}
