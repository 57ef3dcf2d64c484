package dev.jlora.engine.serve;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.adapter.TrainableBase;
import dev.jlora.engine.model.LlamaModel;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * The model a request's adapters run on: the served base model, or for adapters saved with trained base tensors
 * ({@code jlora train --train-base embed,norms,head}) the base with those tensors in place
 * ({@link TrainableBase#applyTo}), as {@code jlora generate --adapter} runs them. Built once per loaded adapter and
 * shared by its requests (the fp32 embedding and head copies are large); an entry goes when its adapter is no
 * longer referenced (evicted from the registry and no request running with it).
 */
final class TrainedBaseCache {
    private final LlamaModel base;
    private final Map<TrainableBase, LlamaModel> models = new WeakHashMap<>();   // identity: TrainableBase has no equals

    TrainedBaseCache(LlamaModel base) {
        this.base = base;
    }

    LlamaModel modelFor(AdapterSet adapters) {
        if (!(adapters instanceof TrainableAdapterSet t) || t.base() == null) {
            return base;
        }
        synchronized (this) {
            return models.computeIfAbsent(t.base(),
                    b -> new LlamaModel(base.config(), b.applyTo(base.weights()), base.tokenizer()));
        }
    }
}
