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

    /** Bytes the weights occupy (mapped or on the heap); a tied head is counted once. */
    public long storageBytes() {
        long n = tokenEmbedding.storageBytes() + (output == tokenEmbedding ? 0 : output.storageBytes())
                + 4L * finalNorm.length;
        for (Layer l : layers) {
            for (QuantMatrix m : new QuantMatrix[] {l.wq, l.wk, l.wv, l.wo, l.wGate, l.wUp, l.wDown}) {
                n += m.storageBytes();
            }
            for (float[] v : new float[][] {l.attnNorm, l.ffnNorm, l.bq, l.bk, l.bv}) {
                n += v == null ? 0 : 4L * v.length;
            }
        }
        return n;
    }

    /**
     * One decoder block. {@code bq}, {@code bk}, {@code bv} are null unless the config has attention biases.
     * wq: [H·hs × C], wk/wv: [KVH·hs × C], wo: [C × H·hs], wGate/wUp: [hidden × C], wDown: [C × hidden].
     */
    public record Layer(float[] attnNorm, QuantMatrix wq, QuantMatrix wk, QuantMatrix wv, QuantMatrix wo,
                        float[] bq, float[] bk, float[] bv,
                        float[] ffnNorm, QuantMatrix wGate, QuantMatrix wUp, QuantMatrix wDown) {}
}
