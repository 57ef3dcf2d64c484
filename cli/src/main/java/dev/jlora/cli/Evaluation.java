package dev.jlora.cli;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.data.Example;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.model.LlamaModel;
import java.util.List;
import java.util.function.Consumer;

/**
 * Mean next-token negative log-likelihood of a model (with optional unmerged adapters) over tokenised examples:
 * each example runs alone from position 0 (its BOS included, no padding, no packing), and the NLL of token i+1
 * given tokens ..i counts when the example marks token i+1 as a target. The mean is over all counted tokens of
 * all examples (not a mean of per-example means); log-softmax is taken in double precision. Public so that the
 * end-to-end quality checks (e2e QuantizedPerplexityTest) measure through the same path as {@code jlora eval}.
 */
public final class Evaluation {
    private Evaluation() {}

    /** mean NLL (nats), the number of predicted tokens, and exp(mean NLL). */
    public record Result(double meanNll, long tokens) {
        public double perplexity() {
            return Math.exp(meanNll);
        }
    }

    /** Examples longer than the model's context are cut to it (with a warning naming the example). */
    public static Result evaluate(LlamaModel model, AdapterSet adapters, List<Example> examples, Consumer<String> warn) {
        int ctx = model.config().contextLength();
        int longest = 0;
        for (Example e : examples) {
            longest = Math.max(longest, Math.min(ctx, e.tokens().length));
        }
        if (longest < 2) {
            throw new IllegalArgumentException("no example has two tokens: nothing to predict");
        }
        var session = new InferenceSession(model, adapters, longest);
        int V = model.config().vocabSize();
        double sum = 0;
        long n = 0;
        for (Example e : examples) {
            int T = Math.min(ctx, e.tokens().length);
            if (T < e.tokens().length) {
                warn.accept(e.source() + ": " + e.tokens().length + " tokens, cut to the context length " + ctx);
            }
            if (T < 2) {
                continue;
            }
            int[] in = java.util.Arrays.copyOf(e.tokens(), T - 1);
            session.reset();
            float[] logits = session.forwardAllLogits(in);
            for (int t = 0; t < T - 1; t++) {
                if (!e.loss()[t + 1]) {
                    continue;
                }
                sum += nll(logits, t * V, V, e.tokens()[t + 1]);
                n++;
            }
        }
        if (n == 0) {
            throw new IllegalArgumentException("the examples mark no token as a prediction target");
        }
        return new Result(sum / n, n);
    }

    /** −log softmax(row)[target], in double. */
    static double nll(float[] logits, int off, int V, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < V; i++) {
            max = Math.max(max, logits[off + i]);
        }
        double s = 0;
        for (int i = 0; i < V; i++) {
            s += Math.exp(logits[off + i] - max);
        }
        return Math.log(s) + max - logits[off + target];
    }
}
