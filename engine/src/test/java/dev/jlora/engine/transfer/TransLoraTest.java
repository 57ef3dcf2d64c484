package dev.jlora.engine.transfer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.data.Example;
import dev.jlora.engine.data.JsonlDataset;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.ref.ByteTokenizer;
import dev.jlora.engine.ref.TinyLlama;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.train.Trainer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Trans-LoRA between two different tiny byte-level models (source: 2 layers, dim 16; target: 1 layer, dim 24, other
 * weights). The source adapter is first trained on the seed examples, so the source model with it is a teacher
 * with a task of its own.
 */
class TransLoraTest {
    static final ByteTokenizer TOK = new ByteTokenizer();
    static final List<Sample> SEEDS = List.of(new Sample("the cat sat", " on the mat"), new Sample("a dog ran", " to the park"),
            new Sample("one bird sang", " in the tree"), new Sample("two fish swam", " in the pond"),
            new Sample("the sun rose", " over the hill"), new Sample("a boy read", " a big book"));

    @TempDir
    Path tmp;

    static LlamaModel model(int C, int F, int L, int H, long seed) {
        var cfg = TinyLlama.config(C, F, L, H, 1, ByteTokenizer.VOCAB, false, false);
        return new LlamaModel(cfg, TinyLlama.weights(cfg, seed), TOK);
    }

    static TrainableAdapterSet trainedSourceAdapter(LlamaModel source, Path dir) throws Exception {
        var ex = new ArrayList<Example>();
        for (int i = 0; i < SEEDS.size(); i++) {
            ex.add(JsonlDataset.example(Map.of("text", SEEDS.get(i).prompt() + SEEDS.get(i).completion()), TOK, "seed:" + i));
        }
        var cfg = TrainConfig.builder().steps(30).batchSize(4).seqLen(32).lr(2e-2f).seed(1).build();
        var set = TrainableAdapterSet.lora(source.weights(), new LoraConfig(8, 16f, 0f, false,
                EnumSet.of(Target.Q, Target.V, Target.UP, Target.DOWN)), 1);
        new Trainer(source, set, Dataset.of(ex, TOK, 32, 0, 1), cfg, dir).train(null);
        return set;
    }

    static TransLora.Config config(long seed) {
        var small = new LoraConfig(4, 8f, 0f, false, EnumSet.of(Target.Q, Target.V, Target.DOWN));
        return new TransLora.Config(12, 10, 3, 2, 12, 10, "\n", 1.0f, small,
                TrainConfig.builder().steps(80).batchSize(4).seqLen(64).lr(3e-2f).seed(seed).build(), small,
                TrainConfig.builder().steps(30).batchSize(4).seqLen(32).lr(1e-2f).seed(seed).build(), 0.25, seed);
    }

    @Test
    void transferToADifferentModelReducesTheHeldOutDistillationLoss() throws Exception {
        LlamaModel source = model(16, 24, 2, 2, 1), target = model(24, 32, 1, 2, 5);
        var adapter = trainedSourceAdapter(source, tmp.resolve("source"));
        var log = new ArrayList<String>();
        long t0 = System.nanoTime();
        var r = TransLora.transfer(source, adapter, target, SEEDS, config(3), tmp.resolve("work"),
                m -> log.add((System.nanoTime() - t0) / 1000000 + " ms " + m), null);
        r.samples().stream().limit(5).forEach(x -> log.add(x.toString()));
        String where = String.join("\n", log) + "\n" + r;
        assertTrue(r.samples().size() >= 2 && r.samples().size() <= 10, where);
        assertTrue(r.generated() >= r.samples().size(), where);
        assertTrue(r.discriminatorAccuracy() > 0.5, "the discriminator separates real from synthetic: " + where);
        assertTrue(r.heldOutLossAfter() < r.heldOutLossBefore(), where);
        assertEquals(target.weights().layers().size(), r.adapter().layerCount());
    }
}
