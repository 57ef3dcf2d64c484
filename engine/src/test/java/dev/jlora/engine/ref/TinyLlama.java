package dev.jlora.engine.ref;

import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaWeights;
import java.util.ArrayList;
import java.util.SplittableRandom;

/** Deterministic random tiny Llama models (fp32 weights) for gradient and equivalence tests. */
public final class TinyLlama {
    private TinyLlama() {}

    public static LlamaConfig config(int C, int F, int L, int H, int KVH, int V, boolean interleaved, boolean bias) {
        return new LlamaConfig("llama", C, F, L, H, KVH, C / H, V, 64, 1e-5f, 10000f,
                LlamaConfig.RopeScaling.NONE, interleaved, false, bias);
    }

    public static LlamaWeights weights(LlamaConfig c, long seed) {
        var rnd = new SplittableRandom(seed);
        var layers = new ArrayList<LlamaWeights.Layer>();
        for (int l = 0; l < c.nLayers(); l++) {
            layers.add(new LlamaWeights.Layer(
                    norm(rnd, c.dim()),
                    matrix(rnd, c.qDim(), c.dim()), matrix(rnd, c.kvDim(), c.dim()), matrix(rnd, c.kvDim(), c.dim()),
                    matrix(rnd, c.dim(), c.qDim()),
                    c.attentionBias() ? vec(rnd, c.qDim(), 0.1) : null,
                    c.attentionBias() ? vec(rnd, c.kvDim(), 0.1) : null,
                    c.attentionBias() ? vec(rnd, c.kvDim(), 0.1) : null,
                    norm(rnd, c.dim()),
                    matrix(rnd, c.hiddenDim(), c.dim()), matrix(rnd, c.hiddenDim(), c.dim()),
                    matrix(rnd, c.dim(), c.hiddenDim())));
        }
        var emb = matrix(rnd, c.vocabSize(), c.dim());
        return new LlamaWeights(emb, layers, norm(rnd, c.dim()), c.tiedEmbeddings() ? emb : matrix(rnd, c.vocabSize(), c.dim()));
    }

    /** The same model with every matrix re-quantized to {@code type} (norms and biases stay fp32). */
    public static LlamaWeights quantized(LlamaWeights w, dev.jlora.quant.QuantType type) {
        var layers = new ArrayList<LlamaWeights.Layer>();
        for (var l : w.layers()) {
            layers.add(new LlamaWeights.Layer(l.attnNorm(), type.quantize(l.wq()), type.quantize(l.wk()),
                    type.quantize(l.wv()), type.quantize(l.wo()), l.bq(), l.bk(), l.bv(), l.ffnNorm(),
                    type.quantize(l.wGate()), type.quantize(l.wUp()), type.quantize(l.wDown())));
        }
        var emb = type.quantize(w.tokenEmbedding());
        return new LlamaWeights(emb, layers, w.finalNorm(), w.output() == w.tokenEmbedding() ? emb : type.quantize(w.output()));
    }

    /** Entries U(−1, 1)/√IC·1.5, so activations stay O(1) through the blocks. */
    static F32Matrix matrix(SplittableRandom rnd, int OC, int IC) {
        float[] w = new float[OC * IC];
        double s = 1.5 / Math.sqrt(IC);
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) ((rnd.nextDouble() * 2 - 1) * s);
        }
        return new F32Matrix(OC, IC, w);
    }

    static float[] norm(SplittableRandom rnd, int n) {
        float[] w = new float[n];
        for (int i = 0; i < n; i++) {
            w[i] = (float) (0.8 + 0.4 * rnd.nextDouble());
        }
        return w;
    }

    static float[] vec(SplittableRandom rnd, int n, double s) {
        float[] w = new float[n];
        for (int i = 0; i < n; i++) {
            w[i] = (float) ((rnd.nextDouble() * 2 - 1) * s);
        }
        return w;
    }
}
