package dev.jlora.engine.serve;

import dev.jlora.engine.infer.BatchedDecode;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.model.LlamaModel;
import java.util.ArrayList;
import java.util.List;

/**
 * One decode step over every running sequence: feeds each its pending token and hands it the logits.
 *
 * <p>{@link #batched} is the S-LoRA step (Sheng et al. 2023, §4) through {@link BatchedDecode}: the n pending tokens
 * go through every base linear as one [n × IC] matmul, each adapter's delta is added on its own rows (rows grouped
 * by adapter), and attention runs per sequence against its own KV cache; the prompts of requests joining at the same
 * step are prefilled together the same way. {@link #INTERLEAVED} runs the sequences one
 * after another through their own sessions; it is the reference the batched step is tested against.
 */
interface DecodeStep {
    /** Advances every sequence in {@code batch} (all have {@code needsDecode()}) by one token. */
    void step(List<Sequence> batch);

    /** Runs the prompts of the sequences that join (all {@code begun}) and samples their first tokens. */
    void prefill(List<Sequence> joining);

    DecodeStep INTERLEAVED = new DecodeStep() {
        @Override
        public void step(List<Sequence> batch) {
            for (Sequence s : batch) {
                try {
                    s.accept(s.session.decode(s.pendingToken()));
                } catch (RuntimeException e) {
                    s.fail(e);   // one broken request must not stop the others
                }
            }
        }

        @Override
        public void prefill(List<Sequence> joining) {
            for (Sequence s : joining) {
                try {
                    s.accept(s.session.prefill(s.request.prompt()));
                } catch (RuntimeException e) {
                    s.fail(e);
                }
            }
        }
    };

    /** The batched step for sequences of {@code model}. */
    static DecodeStep batched(LlamaModel model) {
        var decode = new BatchedDecode(model);
        return new DecodeStep() {
            @Override
            public void step(List<Sequence> batch) {
                int[] tokens = new int[batch.size()];
                for (int i = 0; i < batch.size(); i++) {
                    tokens[i] = batch.get(i).pendingToken();
                }
                float[][] logits;
                try {
                    logits = decode.step(sessions(batch), tokens);
                } catch (RuntimeException e) {
                    failAll(batch, e);
                    return;
                }
                acceptAll(batch, logits);
            }

            @Override
            public void prefill(List<Sequence> joining) {
                List<int[]> prompts = new ArrayList<>();
                for (Sequence s : joining) {
                    prompts.add(s.request.prompt());
                }
                float[][] logits;
                try {
                    logits = decode.prefill(sessions(joining), prompts);
                } catch (RuntimeException e) {
                    failAll(joining, e);
                    return;
                }
                acceptAll(joining, logits);
            }
        };
    }

    private static List<InferenceSession> sessions(List<Sequence> seqs) {
        List<InferenceSession> out = new ArrayList<>(seqs.size());
        for (Sequence s : seqs) {
            out.add(s.session);
        }
        return out;
    }

    private static void failAll(List<Sequence> seqs, RuntimeException e) {
        for (Sequence s : seqs) {
            s.fail(e);   // the step is shared: its sequences cannot go on from a half-done step
        }
    }

    private static void acceptAll(List<Sequence> seqs, float[][] logits) {
        for (int i = 0; i < seqs.size(); i++) {
            try {
                seqs.get(i).accept(logits[i]);
            } catch (RuntimeException e) {
                seqs.get(i).fail(e);   // e.g. a listener that threw: only its own request ends
            }
        }
    }
}
