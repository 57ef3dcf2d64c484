package dev.jlora.engine.infer.ref;

import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaConfig.RopeScaling;
import dev.jlora.engine.model.LlamaWeights;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Deterministic random decoders for forward tests. */
public final class TinyModels {
    private TinyModels() {}

    /** dim 24, hidden 40, 2 layers, 6 heads over 2 KV heads (GQA), hs 4, vocab 37. */
    public static LlamaConfig config(boolean interleaved, boolean bias, boolean tied, RopeScaling scaling) {
        return new LlamaConfig(bias ? "qwen2" : "llama", 24, 40, 2, 6, 2, 4, 37, 64, 1e-5f, 10000f,
                scaling, interleaved, tied, bias);
    }

    public static LlamaWeights weights(LlamaConfig c, long seed) {
        var rnd = new SplittableRandom(seed);
        int C = c.dim();
        DenseMatrix emb = matrix(rnd, c.vocabSize(), C, 1.0);
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        double ws = 1 / Math.sqrt(C);
        for (int l = 0; l < c.nLayers(); l++) {
            layers.add(new LlamaWeights.Layer(norm(rnd, C),
                    matrix(rnd, c.qDim(), C, ws), matrix(rnd, c.kvDim(), C, ws), matrix(rnd, c.kvDim(), C, ws),
                    matrix(rnd, C, c.qDim(), ws),
                    c.attentionBias() ? vector(rnd, c.qDim(), 0.5) : null,
                    c.attentionBias() ? vector(rnd, c.kvDim(), 0.5) : null,
                    c.attentionBias() ? vector(rnd, c.kvDim(), 0.5) : null,
                    norm(rnd, C), matrix(rnd, c.hiddenDim(), C, ws), matrix(rnd, c.hiddenDim(), C, ws),
                    matrix(rnd, C, c.hiddenDim(), 1 / Math.sqrt(c.hiddenDim()))));
        }
        DenseMatrix out = c.tiedEmbeddings() ? emb : matrix(rnd, c.vocabSize(), C, ws * 4);
        return new LlamaWeights(emb, layers, norm(rnd, C), out);
    }

    public static DenseMatrix matrix(SplittableRandom rnd, int rows, int cols, double scale) {
        return new DenseMatrix(rows, cols, vector(rnd, rows * cols, scale));
    }

    static float[] vector(SplittableRandom rnd, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (rnd.nextDouble(-1, 1) * scale);
        }
        return a;
    }

    static float[] norm(SplittableRandom rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextDouble(0.5, 1.5);
        }
        return a;
    }

    public static int[] tokens(long seed, int n, int vocab) {
        var rnd = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = rnd.nextInt(vocab);
        }
        return t;
    }
}
