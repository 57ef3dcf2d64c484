package dev.jlora.engine.data;

import dev.jlora.engine.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * Packed training and held-out rows of one JSONL file. Examples are shuffled once with the seed, the last
 * {@code evalFraction} of them (at least one when the fraction is positive and there are two or more) is held out,
 * and each part is packed into rows of T + 1 tokens.
 */
public record Dataset(List<SequencePacker.Row> train, List<SequencePacker.Row> eval, int T, int padToken,
                      int trainTargets) {

    public static Dataset load(Path file, Tokenizer tok, int T, double evalFraction, long seed) throws IOException {
        return of(JsonlDataset.read(file, tok), tok, T, evalFraction, seed);
    }

    public static Dataset of(List<Example> examples, Tokenizer tok, int T, double evalFraction, long seed) {
        if (!(evalFraction >= 0 && evalFraction < 1)) {
            throw new IllegalArgumentException("eval fraction must be in [0, 1), got " + evalFraction);
        }
        var shuffled = new ArrayList<>(examples);
        Collections.shuffle(shuffled, new Random(seed));
        int nEval = (int) Math.round(shuffled.size() * evalFraction);
        if (evalFraction > 0 && nEval == 0 && shuffled.size() >= 2) {
            nEval = 1;
        }
        int pad = Math.max(0, tok.eos());
        var train = SequencePacker.pack(shuffled.subList(0, shuffled.size() - nEval), T, pad);
        var eval = SequencePacker.pack(shuffled.subList(shuffled.size() - nEval, shuffled.size()), T, pad);
        if (train.isEmpty()) {
            throw new IllegalArgumentException("no training examples left after holding out " + nEval + " for evaluation");
        }
        int targets = 0;
        for (var r : train) {
            for (int i = 1; i < r.loss().length; i++) {
                targets += r.loss()[i] ? 1 : 0;
            }
        }
        return new Dataset(List.copyOf(train), List.copyOf(eval), T, pad, targets);
    }

    /** The held-out rows in batches of B (the last one padded with empty rows). */
    public List<Batch> evalBatches(int B) {
        var out = new ArrayList<Batch>();
        for (int i = 0; i < eval.size(); i += B) {
            out.add(Batch.of(eval.subList(i, Math.min(eval.size(), i + B)), B, T, padToken));
        }
        return out;
    }
}
