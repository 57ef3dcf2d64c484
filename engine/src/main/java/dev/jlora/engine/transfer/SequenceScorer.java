package dev.jlora.engine.transfer;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.data.Example;
import dev.jlora.engine.data.JsonlDataset;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaModel;
import java.util.Map;

/** Two-way answer scoring under a model with adapters (the discriminator's verdict). */
final class SequenceScorer {
    private final LlamaModel model;
    private final AdapterSet adapters;

    SequenceScorer(LlamaModel model, AdapterSet adapters) {
        this.model = model;
        this.adapters = adapters;
    }

    /**
     * The log-odds log p(a) − log p(b) of the two answers at the first token where they differ after {@code prompt}
     * (the same context for both): a two-way classifier that, unlike whole-sequence log-probabilities, does not
     * favour the answer with fewer tokens.
     */
    double answerLogOdds(String prompt, String a, String b) {
        Example ea = example(prompt, a), eb = example(prompt, b);
        int[] ta = ea.tokens(), tb = eb.tokens();
        int d = 0;
        while (d < ta.length && d < tb.length && ta[d] == tb[d]) {
            d++;
        }
        if (d == 0 || d == ta.length || d == tb.length) {
            throw new IllegalArgumentException("answers '" + a + "' and '" + b + "' must differ in a token after the prompt");
        }
        int[] context = java.util.Arrays.copyOf(ta, d);
        var session = new InferenceSession(model, adapters, context.length);
        float[] logits = session.prefill(context);
        int V = model.config().vocabSize();
        return logSoftmax(logits, 0, V, ta[d]) - logSoftmax(logits, 0, V, tb[d]);
    }

    private Example example(String prompt, String completion) {
        try {
            return JsonlDataset.example(Map.of("prompt", prompt, "completion", completion), model.tokenizer(), "score");
        } catch (ModelFormatException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    /** log softmax(row)[k] of the row of V logits at {@code off}. */
    static double logSoftmax(float[] logits, int off, int V, int k) {
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < V; v++) {
            max = Math.max(max, logits[off + v]);
        }
        double z = 0;
        for (int v = 0; v < V; v++) {
            z += Math.exp(logits[off + v] - max);
        }
        return logits[off + k] - max - Math.log(z);
    }
}
