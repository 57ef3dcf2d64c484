package dev.jlora.engine.infer;

import static dev.jlora.simd.testing.Approx.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.DoraAdapter;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.RandomInit;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.ref.ByteTokenizer;
import dev.jlora.engine.ref.TinyLlama;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class BatchedDecodeTest {
    static final ByteTokenizer TOK = new ByteTokenizer();

    static AdapterSet lora(LlamaModel m, long seed) {
        var set = TrainableAdapterSet.lora(m.weights(), new LoraConfig(2, 4f, 0f, false,
                EnumSet.of(Target.Q, Target.K, Target.O, Target.UP, Target.DOWN)), seed);
        var rnd = new SplittableRandom(seed);
        for (Parameter p : set.parameters()) {
            for (int i = 0; i < p.value().length; i++) {
                p.value()[i] = (float) rnd.nextDouble(-0.5, 0.5);
            }
        }
        return set;
    }

    /**
     * Four sequences (base, adapter a twice, adapter b) at different positions, three steps: every row's logits equal
     * those of the same session decoding alone (the reference: InferenceSession.decode).
     */
    @Test
    void batchedStepEqualsEachSessionDecodingAlone() {
        var cfg = TinyLlama.config(16, 24, 2, 4, 2, ByteTokenizer.VOCAB, true, true);   // with q/k/v biases
        var m = new LlamaModel(cfg, TinyLlama.weights(cfg, 3), TOK);
        AdapterSet a = lora(m, 21), b = lora(m, 22);
        List<AdapterSet> sets = List.of(AdapterSet.NONE, a, b, a);
        List<String> prompts = List.of("hello", "ab", "xyz there", "q");
        List<InferenceSession> batched = new ArrayList<>(), alone = new ArrayList<>();
        for (int i = 0; i < sets.size(); i++) {
            int[] p = TOK.encode(prompts.get(i), true, false);
            for (List<InferenceSession> list : List.of(batched, alone)) {
                var s = new InferenceSession(m, sets.get(i), 32);
                s.prefill(p);
                list.add(s);
            }
        }
        var decode = new BatchedDecode(m);
        var rnd = new SplittableRandom(5);
        for (int step = 0; step < 3; step++) {
            int[] tokens = new int[sets.size()];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = 3 + rnd.nextInt(cfg.vocabSize() - 3);
            }
            float[][] got = decode.step(batched, tokens);
            for (int i = 0; i < tokens.length; i++) {
                float[] want = alone.get(i).decode(tokens[i]);
                // Same formula per row; the n-row matmul may sum in another order than the 1-row one: float
                // rounding of sums over C = 16..24 terms of O(1) values, well below 1e-5.
                int row = i, st = step;
                assertClose(want, got[i], 1e-5, 1e-5, () -> "sequence " + row + " step " + st);
                assertEquals(alone.get(i).position(), batched.get(i).position());
            }
        }
    }

    /**
     * Prompts of different lengths (one longer than the prefill chunk of 4, so it takes three rounds) prefilled
     * together, then one batched step: logits equal each session's own prefill and decode.
     */
    @Test
    void batchedPrefillEqualsEachSessionsOwnPrefill() {
        var cfg = TinyLlama.config(16, 24, 2, 4, 2, ByteTokenizer.VOCAB, true, false);
        var m = new LlamaModel(cfg, TinyLlama.weights(cfg, 8), TOK);
        AdapterSet a = lora(m, 31), b = lora(m, 32);
        List<AdapterSet> sets = List.of(a, AdapterSet.NONE, b);
        List<int[]> prompts = List.of(TOK.encode("a longer one", true, false), TOK.encode("hi", true, false),
                TOK.encode("abc", true, false));
        List<InferenceSession> batched = new ArrayList<>(), alone = new ArrayList<>();
        for (AdapterSet set : sets) {
            batched.add(new InferenceSession(m, set, 32, 4));
            alone.add(new InferenceSession(m, set, 32, 4));
        }
        var decode = new BatchedDecode(m);
        float[][] got = decode.prefill(batched, prompts);
        for (int i = 0; i < sets.size(); i++) {
            float[] want = alone.get(i).prefill(prompts.get(i));
            int row = i;
            // Tolerance as in the decode test: only the matmul summation order over ≤ 24 terms differs.
            assertClose(want, got[i], 1e-5, 1e-5, () -> "prefill of sequence " + row);
            assertEquals(prompts.get(i).length, batched.get(i).position());
        }
        float[][] next = decode.step(batched, new int[] {7, 8, 9});
        for (int i = 0; i < sets.size(); i++) {
            int row = i;
            assertClose(alone.get(i).decode(7 + i), next[i], 1e-5, 1e-5, () -> "decode after prefill, sequence " + row);
        }
    }

    /** DoRA on the same targets, its parameters randomised like {@link #lora} so its delta is not zero. */
    static AdapterSet dora(LlamaModel m, long seed) {
        var cfg = new LoraConfig(3, 4f, 0f, false, EnumSet.of(Target.Q, Target.V, Target.O, Target.GATE));
        var set = TrainableAdapterSet.create(m.weights(), cfg.targets(),
                (layer, target, base, rnd) -> DoraAdapter.create(base, cfg, RandomInit.KAIMING, rnd), seed);
        var rnd = new SplittableRandom(seed);
        for (Parameter p : set.parameters()) {
            for (int i = 0; i < p.value().length; i++) {
                p.value()[i] += (float) rnd.nextDouble(-0.5, 0.5);
            }
        }
        return set;
    }

    /**
     * A mixed batch: two LoRA groups (one of two sequences, through the segmented in-place kernel), a DoRA group (the
     * gather/forward/scatter path) and base rows, decoded together for three steps and prefilled together: each
     * row's logits equal the same session run alone (InferenceSession, which calls each adapter's own forward).
     */
    @Test
    void mixedLoraDoraAndBaseBatchEqualsEachSessionAlone() {
        var cfg = TinyLlama.config(16, 24, 2, 4, 2, ByteTokenizer.VOCAB, true, true);
        var m = new LlamaModel(cfg, TinyLlama.weights(cfg, 5), TOK);
        AdapterSet a = lora(m, 41), b = lora(m, 42), d = dora(m, 43);
        List<AdapterSet> sets = List.of(a, d, AdapterSet.NONE, b, a, d);
        List<int[]> prompts = new ArrayList<>();
        for (String p : List.of("one", "two words", "3", "four", "a fifth prompt", "six")) {
            prompts.add(TOK.encode(p, true, false));
        }
        assertBatchEqualsAlone(m, sets, java.util.Collections.nCopies(sets.size(), m), prompts);
    }

    /**
     * Sessions of {@code models.get(i)} with {@code sets.get(i)} (prefill chunk 4), prefilled together and decoded
     * together for three steps of random tokens through a {@link BatchedDecode} of {@code m}: every row's logits must
     * equal the same session run alone (InferenceSession, which calls each adapter's own forward).
     */
    static void assertBatchEqualsAlone(LlamaModel m, List<AdapterSet> sets, List<LlamaModel> models, List<int[]> prompts) {
        List<InferenceSession> batched = new ArrayList<>(), alone = new ArrayList<>();
        for (int i = 0; i < sets.size(); i++) {
            batched.add(new InferenceSession(models.get(i), sets.get(i), 32, 4));
            alone.add(new InferenceSession(models.get(i), sets.get(i), 32, 4));
        }
        var decode = new BatchedDecode(m);
        float[][] got = decode.prefill(batched, prompts);
        for (int i = 0; i < sets.size(); i++) {
            int row = i;
            // Same formula per row; the n-row matmul may sum in another order than the session's own: float rounding
            // of sums over C = 16..24 terms of O(1) values, well below 1e-5.
            assertClose(alone.get(i).prefill(prompts.get(i)), got[i], 1e-5, 1e-5, () -> "prefill of sequence " + row);
        }
        var rnd = new SplittableRandom(9);
        for (int step = 0; step < 3; step++) {
            int[] tokens = new int[sets.size()];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = 3 + rnd.nextInt(m.config().vocabSize() - 3);
            }
            got = decode.step(batched, tokens);
            for (int i = 0; i < tokens.length; i++) {
                int row = i, st = step;
                assertClose(alone.get(i).decode(tokens[i]), got[i], 1e-5, 1e-5, () -> "sequence " + row + " step " + st);
                assertEquals(alone.get(i).position(), batched.get(i).position());
            }
        }
    }

    @Test
    void sessionsOfAnotherModelAndFullContextsAreRejected() {
        var cfg = TinyLlama.config(16, 24, 2, 4, 2, ByteTokenizer.VOCAB, true, false);
        var m = new LlamaModel(cfg, TinyLlama.weights(cfg, 3), TOK);
        var other = new LlamaModel(cfg, TinyLlama.weights(cfg, 4), TOK);
        var decode = new BatchedDecode(m);
        var e = assertThrows(IllegalArgumentException.class,
                () -> decode.step(List.of(new InferenceSession(other, AdapterSet.NONE, 4)), new int[] {5}));
        assertEquals("a session of another model's weights cannot join this batch", e.getMessage());
        var full = new InferenceSession(m, AdapterSet.NONE, 2);
        full.prefill(new int[] {1, 5});
        assertThrows(IllegalStateException.class, () -> decode.step(List.of(full), new int[] {6}));
    }
}
