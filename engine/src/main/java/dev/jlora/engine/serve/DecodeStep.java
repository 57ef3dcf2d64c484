package dev.jlora.engine.serve;

import java.util.List;

/**
 * One decode step over every running sequence: feeds each its pending token and hands it the logits.
 *
 * <p>{@link #INTERLEAVED} runs the sequences one after another, each through its own session (its adapters applied
 * unmerged, as in {@code InferenceSession}). The S-LoRA step (Sheng et al. 2023, §4) this interface is shaped for
 * would stack the n pending tokens into one [n × IC] activation, run every base linear once for the batch through
 * {@code QuantMatrix.matmul}, add each request's adapter delta on its own rows (rows grouped by adapter), and run
 * attention per sequence against its own KV cache; that needs an InferenceSession whose forward takes rows of
 * different sequences and is not written yet.
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
}
