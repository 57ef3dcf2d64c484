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
 * step are prefilled together the same way, a chunk at a time. {@link #INTERLEAVED} runs the sequences one
 * after another through their own sessions; it is the reference the batched step is tested against.
 */
interface DecodeStep {
    /** Advances every sequence in {@code batch} (all have {@code needsDecode()}) by one token. */
    void step(List<Sequence> batch);

    /**
     * Runs one prompt chunk of each sequence in {@code prefilling} ({@code chunks.get(i)} continues where the
     * sequence's KV cache ends) and hands each its logits ({@link Sequence#prefilled}: a sequence whose prompt is
     * now complete samples its first token).
     */
    void prefill(List<Sequence> prefilling, List<int[]> chunks);

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
        public void prefill(List<Sequence> prefilling, List<int[]> chunks) {
            for (int i = 0; i < prefilling.size(); i++) {
                Sequence s = prefilling.get(i);
                try {
                    s.prefilled(s.session.prefill(chunks.get(i)));
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
            public void prefill(List<Sequence> prefilling, List<int[]> chunks) {
                float[][] logits;
                try {
                    logits = decode.prefill(sessions(prefilling), chunks);
                } catch (RuntimeException e) {
                    failAll(prefilling, e);
                    return;
                }
                for (int i = 0; i < prefilling.size(); i++) {
                    try {
                        prefilling.get(i).prefilled(logits[i]);
                    } catch (RuntimeException e) {
                        prefilling.get(i).fail(e);
                    }
                }
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
