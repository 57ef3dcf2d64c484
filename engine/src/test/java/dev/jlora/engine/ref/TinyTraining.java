package dev.jlora.engine.ref;

import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.data.Example;
import dev.jlora.engine.data.JsonlDataset;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.train.TrainConfig;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.Map;

/** A tiny model, data set and configuration for trainer tests: runs a few steps in milliseconds. */
public final class TinyTraining {
    private TinyTraining() {}

    public static final ByteTokenizer TOK = new ByteTokenizer();
    public static final LoraConfig LORA = new LoraConfig(4, 8f, 0.1f, false, EnumSet.of(Target.Q, Target.V, Target.DOWN));

    /** 2 layers, dim 16, hidden 24, 4 heads (2 KV heads), byte vocabulary. */
    public static LlamaModel model() {
        var cfg = TinyLlama.config(16, 24, 2, 4, 2, ByteTokenizer.VOCAB, true, false);
        return new LlamaModel(cfg, TinyLlama.weights(cfg, 1), TOK);
    }

    /** 24 prompt/completion examples packed into rows of T tokens, 15 % held out. */
    public static Dataset data(int T) throws ModelFormatException {
        var ex = new ArrayList<Example>();
        String[] words = {"the cat sat", "a dog ran", "one bird sang", "two fish swam", "the sun rose", "a boy read"};
        for (int i = 0; i < 24; i++) {
            ex.add(JsonlDataset.example(Map.of("prompt", "Q" + i + ": ", "completion", words[i % words.length]), TOK, "mem:" + i));
        }
        return Dataset.of(ex, TOK, T, 0.15, 3);
    }

    /** 6 steps of 2 micro-batches of 2×24 tokens, warmup 2, eval every 3, seed 7. */
    public static TrainConfig.Builder config() {
        return TrainConfig.builder().steps(6).batchSize(2).seqLen(24).gradAccum(2).lr(5e-3f).warmupSteps(2)
                .evalEvery(3).seed(7);
    }
}
