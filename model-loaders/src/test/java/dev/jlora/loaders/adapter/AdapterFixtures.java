package dev.jlora.loaders.adapter;

import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
import java.util.ArrayList;
import java.util.Set;
import java.util.SplittableRandom;

/** Tiny random Llamas (default C=16, hidden 24, 2 layers, 4 heads of 4, 2 KV heads, V=32) and non-zero LoRA adapters. */
final class AdapterFixtures {
    private AdapterFixtures() {}

    static LlamaModel model(boolean ropeInterleaved) {
        return model(ropeInterleaved, 16);
    }

    /** Width C (a multiple of 8), hidden 3C/2, 2 layers, 4 heads of C/4, 2 KV heads, V = 32. */
    static LlamaModel model(boolean ropeInterleaved, int C) {
        int F = C * 3 / 2, hs = C / 4, kv = 2 * hs;
        var cfg = new LlamaConfig("llama", C, F, 2, 4, 2, hs, 32, 64, 1e-5f, 10000f,
                LlamaConfig.RopeScaling.NONE, ropeInterleaved, false, false);
        var rnd = new SplittableRandom(11);
        var layers = new ArrayList<LlamaWeights.Layer>();
        for (int l = 0; l < cfg.nLayers(); l++) {
            layers.add(new LlamaWeights.Layer(ones(C), m(rnd, C, C), m(rnd, kv, C), m(rnd, kv, C), m(rnd, C, C),
                    null, null, null, ones(C), m(rnd, F, C), m(rnd, F, C), m(rnd, C, F)));
        }
        QuantMatrix emb = m(rnd, 32, C);
        return new LlamaModel(cfg, new LlamaWeights(emb, layers, ones(C), m(rnd, 32, C)), null);
    }

    /** LoRA on {@code targets} with A and B both drawn from U(−0.5, 0.5), so ΔW ≠ 0. */
    static TrainableAdapterSet randomLora(LlamaModel model, Set<Target> targets, int r, float alpha, boolean rs, long seed) {
        var set = TrainableAdapterSet.lora(model.weights(), new LoraConfig(r, alpha, 0.05f, rs, targets), seed);
        var rnd = new SplittableRandom(seed);
        for (var a : set.adapters()) {
            var l = (LoraAdapter) a;
            fill(rnd, l.loraA().value());
            fill(rnd, l.loraB().value());
        }
        return set;
    }

    /** ΔW = s·B·A of every adapter, by (layer, target) key. */
    static float[] delta(TrainableAdapterSet set, int layer, Target t) {
        var a = set.get(layer, t);
        float[] w = new float[a.inFeatures() * a.outFeatures()];
        a.mergeInto(w);
        return w;
    }

    private static void fill(SplittableRandom rnd, float[] x) {
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rnd.nextDouble() - 0.5);
        }
    }

    private static QuantMatrix m(SplittableRandom rnd, int rows, int cols) {
        float[] w = new float[rows * cols];
        fill(rnd, w);
        return QuantType.F32.quantize(w, rows, cols);
    }

    private static float[] ones(int n) {
        float[] x = new float[n];
        java.util.Arrays.fill(x, 1f);
        return x;
    }
}
