package dev.jlora.engine.infer;

import static org.junit.jupiter.api.Assertions.assertNotSame;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.adapter.TrainableBase;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.ref.ByteTokenizer;
import dev.jlora.engine.ref.TinyLlama;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Adapters that are not per-linear deltas in one batch with plain LoRA: MixLoRA (an FFN adapter, run on its rows'
 * FFN inputs inside the batched step), X-LoRA (its own scaling pass, so its sessions decode alone within the step,
 * two sessions sharing one X-LoRA model) and an adapter with trained base tensors (the model with its embedding,
 * norms and head in place: decodes alone on those weights). Reference: each session run alone through
 * {@link InferenceSession}, the path of {@code jlora generate}.
 */
class BatchedMixtureDecodeTest {
    static final ByteTokenizer TOK = new ByteTokenizer();

    static void randomize(TrainableAdapterSet set, long seed, double range) {
        var rnd = new SplittableRandom(seed);
        for (Parameter p : set.parameters()) {
            for (int i = 0; i < p.value().length; i++) {
                p.value()[i] += (float) rnd.nextDouble(-range, range);
            }
        }
    }

    @Test
    void mixLoraXLoraAndTrainedBaseInAMixedBatchEqualEachSessionAlone() {
        var cfg = TinyLlama.config(16, 24, 2, 4, 2, ByteTokenizer.VOCAB, true, true);
        var m = new LlamaModel(cfg, TinyLlama.weights(cfg, 6), TOK);
        AdapterSet lora = BatchedDecodeTest.lora(m, 51);
        var mixlora = AdapterMethods.create("mixlora", "kaiming", Map.of("num_experts", "3", "top_k", "2"), m.weights(),
                EnumSet.of(Target.Q, Target.DOWN), 52, null).adapters();
        randomize(mixlora, 53, 0.5);   // B ≠ 0 in every expert, so the mixture differs from the base FFN
        var xlora = AdapterMethods.xlora(m.weights(), EnumSet.of(Target.Q, Target.K, Target.O, Target.UP, Target.DOWN),
                List.of((TrainableAdapterSet) BatchedDecodeTest.lora(m, 54), (TrainableAdapterSet) BatchedDecodeTest.lora(m, 55)),
                1f, 56);
        var trained = ((TrainableAdapterSet) BatchedDecodeTest.lora(m, 57))
                .withBase(TrainableBase.copyOf(m.weights(), EnumSet.allOf(TrainableBase.Part.class)));
        for (Parameter p : trained.base().parameters()) {
            var rnd = new SplittableRandom(p.name().hashCode());
            for (int i = 0; i < p.value().length; i++) {
                p.value()[i] *= (float) (1 + rnd.nextDouble(-0.3, 0.3));
            }
        }
        var withBase = new LlamaModel(cfg, trained.base().applyTo(m.weights()), TOK);
        assertNotSame(m.weights(), withBase.weights());

        List<AdapterSet> sets = List.of(lora, mixlora, xlora, AdapterSet.NONE, trained, xlora, mixlora);
        List<LlamaModel> models = List.of(m, m, m, m, withBase, m, m);
        List<int[]> prompts = new ArrayList<>();
        for (String p : List.of("one", "two words", "3", "four", "a fifth prompt", "six", "seventh")) {
            prompts.add(TOK.encode(p, true, false));
        }
        BatchedDecodeTest.assertBatchEqualsAlone(m, sets, models, prompts);
    }
}
