package dev.jlora.engine.model;

import dev.jlora.quant.QuantMatrix;
import java.util.List;

/**
 * Frozen base weights of a Llama-family decoder. Linear weights are [OC × IC] in any quant format;
 * norms and biases are fp32.
 *
 * @param tokenEmbedding [V × C]; rows are looked up with {@link QuantMatrix#dequantizeRow}
 * @param layers         one entry per decoder block
 * @param finalNorm      [C]
 * @param output         [V × C]; the same object as {@code tokenEmbedding} when embeddings are tied
 */
public record LlamaWeights(QuantMatrix tokenEmbedding, List<Layer> layers, float[] finalNorm, QuantMatrix output) {

    public LlamaWeights {
        layers = List.copyOf(layers);
    }

    /**
     * One decoder block. {@code bq}, {@code bk}, {@code bv} are null unless the config has attention biases.
     * wq: [H·hs × C], wk/wv: [KVH·hs × C], wo: [C × H·hs], wGate/wUp: [hidden × C], wDown: [C × hidden].
     */
    public record Layer(float[] attnNorm, QuantMatrix wq, QuantMatrix wk, QuantMatrix wv, QuantMatrix wo,
                        float[] bq, float[] bk, float[] bv,
                        float[] ffnNorm, QuantMatrix wGate, QuantMatrix wUp, QuantMatrix wDown) {}
}
