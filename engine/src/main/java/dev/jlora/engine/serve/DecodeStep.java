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
 * by adapter), and attention runs per sequence against its own KV cache. {@link #INTERLEAVED} runs the sequences one
 * after another through their own sessions; it is the reference the batched step is tested against.
 */
interface DecodeStep {
    /** Advances every sequence in {@code batch} (all have {@code needsDecode()}) by one token. */
    void step(List<Sequence> batch);

    DecodeStep INTERLEAVED = batch -> {
        for (Sequence s : batch) {
            try {
                s.accept(s.session.decode(s.pendingToken()));
            } catch (RuntimeException e) {
                s.fail(e);   // one broken request must not stop the others
            }
        }
    };

    /** The batched step for sequences of {@code model}. */
    static DecodeStep batched(LlamaModel model) {
        var decode = new BatchedDecode(model);
        return batch -> {
            List<InferenceSession> sessions = new ArrayList<>(batch.size());
            int[] tokens = new int[batch.size()];
            for (int i = 0; i < batch.size(); i++) {
                sessions.add(batch.get(i).session);
                tokens[i] = batch.get(i).pendingToken();
            }
            float[][] logits;
            try {
                logits = decode.step(sessions, tokens);
            } catch (RuntimeException e) {
                for (Sequence s : batch) {
                    s.fail(e);   // the step is shared: its sequences cannot go on from a half-done step
                }
                return;
            }
            for (int i = 0; i < batch.size(); i++) {
                try {
                    batch.get(i).accept(logits[i]);
                } catch (RuntimeException e) {
                    batch.get(i).fail(e);   // e.g. a listener that threw: only its own request ends
                }
            }
        };
    }
}
