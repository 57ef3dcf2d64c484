package dev.jlora.engine.backend;

import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.quant.QuantMatrix;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Puts a model's linear weights on a backend: as the backend's own resident copy where it keeps weights of that
 * format ({@link Backend#residentWeight}), else the fp32 ones through {@link BackendMatrix}; other quantized ones
 * stay on the Java kernels. The token embedding is only looked up by row, so it is left alone unless tied to the
 * output projection.
 */
public final class BackendWeights {
    private BackendWeights() {}

    /** The model with its F32 linear weights on {@code backend}; the model itself when that is Java. */
    public static LlamaModel onBackend(LlamaModel m, Backend backend) {
        if (backend == JavaBackend.INSTANCE || backend.name().equals("java")) {
            return m;
        }
        return new LlamaModel(m.config(), onBackend(m.weights(), backend), m.tokenizer());
    }

    /** The weights with every linear matrix the backend takes wrapped; shared (tied) matrices stay shared. */
    public static LlamaWeights onBackend(LlamaWeights w, Backend backend) {
        Map<QuantMatrix, QuantMatrix> done = new IdentityHashMap<>();
        java.util.function.UnaryOperator<QuantMatrix> on = q -> done.computeIfAbsent(q,
                k -> backend.residentWeight(k).orElseGet(() -> BackendMatrix.wrap(k, backend)));
        List<LlamaWeights.Layer> layers = w.layers().stream().map(l -> new LlamaWeights.Layer(l.attnNorm(),
                on.apply(l.wq()), on.apply(l.wk()), on.apply(l.wv()), on.apply(l.wo()), l.bq(), l.bk(), l.bv(),
                l.ffnNorm(), on.apply(l.wGate()), on.apply(l.wUp()), on.apply(l.wDown()))).toList();
        QuantMatrix output = on.apply(w.output());
        QuantMatrix embedding = w.tokenEmbedding() == w.output() ? output : w.tokenEmbedding();
        return new LlamaWeights(embedding, layers, w.finalNorm(), output);
    }

    /** How many distinct matrices of {@code w} run on a backend other than Java. */
    public static int countOnBackend(LlamaWeights w) {
        Map<QuantMatrix, Boolean> seen = new IdentityHashMap<>();
        seen.put(w.output(), true);
        for (LlamaWeights.Layer l : w.layers()) {
            for (QuantMatrix q : List.of(l.wq(), l.wk(), l.wv(), l.wo(), l.wGate(), l.wUp(), l.wDown())) {
                seen.put(q, true);
            }
        }
        return (int) seen.keySet().stream().filter(q -> q instanceof ResidentWeight).count();
    }
}
