package dev.jlora.loaders;

import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.tokenizer.Tokenizer;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Deterministic random-initialised Llama-family models, for benchmarks at realistic sizes (no real model larger
 * than stories260K is available here; see shared/models/README.md) and for tests of shapes the fixtures lack
 * (qwen2 biases, GQA ratios, tied embeddings). Write them with {@link ModelWriter}.
 *
 * <p>Weights are N(0, 1/IC) (so activations keep their scale through each linear layer), norms 1 + N(0, 0.01²),
 * biases N(0, 0.02²); all F32. The same config and seed give the same bits.
 */
public final class SyntheticModel {

    private SyntheticModel() {}

    /**
     * The llama2.c TinyStories shapes of shared/models/README.md: "stories15M" (dim 288, hidden 768, 6 layers,
     * 6 heads), "stories42M" (512, 1376, 8, 8), "stories110M" (768, 2048, 12, 12), vocabulary {@code vocab}.
     * Context 1024, RMS eps 1e-5, rope theta 10000, untied head, the llama GGUF layout.
     */
    public static LlamaConfig storiesShape(String name, int vocab) {
        int[] s = switch (name) {
            case "stories15M" -> new int[] {288, 768, 6, 6};
            case "stories42M" -> new int[] {512, 1376, 8, 8};
            case "stories110M" -> new int[] {768, 2048, 12, 12};
            default -> throw new IllegalArgumentException("unknown shape '" + name
                    + "' (expected stories15M, stories42M or stories110M)");
        };
        return new LlamaConfig("llama", s[0], s[1], s[2], s[3], s[3], s[0] / s[3], vocab, 1024, 1e-5f, 10000f,
                LlamaConfig.RopeScaling.NONE, true, false, false);
    }

    /** A model of shape {@code c} with weights drawn from {@code seed}; {@code tokenizer} may be null. */
    public static LlamaModel random(LlamaConfig c, long seed, Tokenizer tokenizer) {
        if (tokenizer != null && tokenizer.vocabSize() != c.vocabSize()) {
            throw new IllegalArgumentException("tokenizer has " + tokenizer.vocabSize() + " tokens, config "
                    + c.vocabSize());
        }
        SplittableRandom root = new SplittableRandom(seed);
        QuantMatrix embd = matrix(root.split(), c.vocabSize(), c.dim(), 1.0);
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.nLayers(); l++) {
            SplittableRandom r = root.split();
            QuantMatrix[] w = new QuantMatrix[Target.values().length];
            for (Target t : Target.values()) {
                int rows = switch (t) {
                    case Q -> c.qDim();
                    case K, V -> c.kvDim();
                    case O, DOWN -> c.dim();
                    case GATE, UP -> c.hiddenDim();
                };
                int cols = switch (t) {
                    case O -> c.qDim();
                    case DOWN -> c.hiddenDim();
                    default -> c.dim();
                };
                w[t.ordinal()] = matrix(r.split(), rows, cols, 1.0 / Math.sqrt(cols));
            }
            float[] bq = c.attentionBias() ? vector(r, c.qDim(), 0, 0.02) : null;
            float[] bk = c.attentionBias() ? vector(r, c.kvDim(), 0, 0.02) : null;
            float[] bv = c.attentionBias() ? vector(r, c.kvDim(), 0, 0.02) : null;
            layers.add(new LlamaWeights.Layer(vector(r, c.dim(), 1, 0.01), w[0], w[1], w[2], w[3], bq, bk, bv,
                    vector(r, c.dim(), 1, 0.01), w[4], w[5], w[6]));
        }
        float[] norm = vector(root, c.dim(), 1, 0.01);
        QuantMatrix out = c.tiedEmbeddings() ? embd : matrix(root.split(), c.vocabSize(), c.dim(), 1.0 / Math.sqrt(c.dim()));
        return new LlamaModel(c, new LlamaWeights(embd, layers, norm, out), tokenizer);
    }

    private static QuantMatrix matrix(SplittableRandom r, int rows, int cols, double std) {
        float[] w = new float[Math.multiplyExact(rows, cols)];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (r.nextGaussian() * std);
        }
        return QuantType.F32.quantize(w, rows, cols);
    }

    private static float[] vector(SplittableRandom r, int n, double mean, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (mean + r.nextGaussian() * std);
        }
        return v;
    }
}
