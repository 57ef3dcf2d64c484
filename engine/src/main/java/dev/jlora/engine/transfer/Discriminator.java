package dev.jlora.engine.transfer;

import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.data.Example;
import dev.jlora.engine.data.JsonlDataset;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.train.Trainer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Trans-LoRA's discriminator (Wang et al. 2024, §3.2): a LoRA on the source base model, trained as a language model
 * to answer whether a task input is real (from the task's data) or synthetic (from the generator), on equal numbers
 * of each. Its verdict on a sample is the sign of log p(yes) − log p(no) at the answer's first token.
 */
final class Discriminator {
    static final String QUESTION = "\nIs this a real example? Answer:";
    static final String REAL = " yes", SYNTHETIC = " no";

    private final SequenceScorer scorer;
    private final TrainableAdapterSet adapter;

    private Discriminator(LlamaModel source, TrainableAdapterSet adapter) {
        this.adapter = adapter;
        this.scorer = new SequenceScorer(source, adapter);
    }

    /** Trains the discriminator LoRA on {@code real} and {@code synthetic} inputs; run files go to {@code dir}. */
    static Discriminator train(LlamaModel source, List<String> real, List<String> synthetic, LoraConfig lora,
                               TrainConfig cfg, Path dir) throws IOException {
        var examples = new ArrayList<Example>();
        try {
            for (String r : real) {
                examples.add(example(source, r, REAL));
            }
            for (String s : synthetic) {
                examples.add(example(source, s, SYNTHETIC));
            }
        } catch (ModelFormatException e) {
            throw new IllegalArgumentException("discriminator data: " + e.getMessage(), e);
        }
        var data = Dataset.of(examples, source.tokenizer(), cfg.seqLen(), 0, cfg.seed());
        var adapters = TrainableAdapterSet.lora(source.weights(), lora, cfg.seed());
        new Trainer(source, adapters, data, cfg, dir).train(null);
        return new Discriminator(source, adapters);
    }

    private static Example example(LlamaModel m, String text, String answer) throws ModelFormatException {
        return JsonlDataset.example(Map.of("prompt", text + QUESTION, "completion", answer), m.tokenizer(), "discriminator");
    }

    /** The log-odds of " yes" over " no": positive when the discriminator takes {@code text} for real. */
    double score(String text) {
        return scorer.answerLogOdds(text + QUESTION, REAL, SYNTHETIC);
    }

    /** The fraction of {@code real} scored positive and {@code synthetic} scored negative. */
    double accuracy(List<String> real, List<String> synthetic) {
        int right = 0;
        for (String r : real) {
            right += score(r) > 0 ? 1 : 0;
        }
        for (String s : synthetic) {
            right += score(s) <= 0 ? 1 : 0;
        }
        return (double) right / (real.size() + synthetic.size());
    }

    TrainableAdapterSet adapter() {
        return adapter;
    }
}
