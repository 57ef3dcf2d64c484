package dev.jlora.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.infer.KvCacheType;
import dev.jlora.engine.infer.KvPagePool;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.ffm.LlamaLib;
import dev.jlora.loaders.ModelLoader;
import java.util.Optional;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * jlora's forward against llama.cpp v0.5.0 (libllama through FFM, F32 KV cache, flash attention off) on stories260K:
 * tokenization and the logits of all 65 positions of the golden sequence.
 */
@Tag("native")
class LlamaCppReferenceTest {
    /** Both compute in fp32 with different summation orders; README: the two agree to about 1e-5 at position 4. */
    static final double ABS = 1e-4;

    static LlamaLib llama() {
        Optional<LlamaLib> lib = LlamaLib.load(LlamaLib.defaultDirectory());
        if (lib.isEmpty()) {
            String msg = "libllama not found in " + LlamaLib.defaultDirectory() + " (run scripts/fetch-llama-natives.sh)";
            if (System.getenv("CI") != null) {
                fail(msg + "; under CI the llama.cpp reference is required");
            }
            assumeTrue(false, msg);
        }
        return lib.get();
    }

    @Test
    void logitsOfEveryPositionMatchLlamaCpp() throws Exception {
        LlamaLib lib = llama();
        LlamaModel m = ModelLoader.load(Golden.stories260K());
        int[] seq = goldenSequence();
        int V = m.config().vocabSize();
        float[] ours = new InferenceSession(m, AdapterSet.NONE, 80).forwardAllLogits(seq);
        float[] theirs;
        try (var model = lib.loadModel(Golden.stories260K()); var ctx = model.newContext(80, 1)) {
            assertArrayEquals(model.tokenize(Golden.PROMPT, true, false), m.tokenizer().encode(Golden.PROMPT, true, false));
            theirs = ctx.decode(seq, 0, true);
        }
        double worst = 0;
        for (int t = 0; t < seq.length; t++) {
            for (int i = 0; i < V; i++) {
                float a = theirs[t * V + i], b = ours[t * V + i];
                worst = Math.max(worst, Math.abs(a - b));
                assertEquals(a, b, ABS, "position " + t + ", logit " + i);
            }
        }
        System.out.printf("jlora vs llama.cpp on stories260K: max |Δlogit| = %.3g over %d positions%n", worst, seq.length);
    }

    @Test
    void fp16KvCacheLogitsMatchLlamaCppWithFp16Kv() throws Exception {
        // Both engines store keys and values rounded to fp16 (round to nearest even); llama.cpp also rounds the query
        // and the softmax weights to fp16 for its products, jlora widens the cache back to fp32. 80 positions: five
        // pages of 16, the last partly filled while the sequence grows.
        LlamaLib lib = llama();
        LlamaModel m = ModelLoader.load(Golden.stories260K());
        int[] seq = goldenSequence();
        int V = m.config().vocabSize();
        float[] oursF16 = new InferenceSession(m, AdapterSet.NONE, 80, InferenceSession.DEFAULT_MAX_BATCH,
                KvPagePool.forPositions(m.config(), 80, KvCacheType.F16)).forwardAllLogits(seq);
        float[] oursF32 = new InferenceSession(m, AdapterSet.NONE, 80).forwardAllLogits(seq);
        float[] theirsF16, theirsF32;
        try (var model = lib.loadModel(Golden.stories260K()); var ctx = model.newContext(80, 1, true)) {
            theirsF16 = ctx.decode(seq, 0, true);
        }
        try (var model = lib.loadModel(Golden.stories260K()); var ctx = model.newContext(80, 1)) {
            theirsF32 = ctx.decode(seq, 0, true);
        }
        double f16VsF16 = maxDiff(oursF16, theirsF16), oursF16VsF32 = maxDiff(oursF16, oursF32);
        double theirsF16VsF32 = maxDiff(theirsF16, theirsF32);
        System.out.printf("fp16 KV on stories260K, max |Δlogit| over %d positions: jlora vs llama.cpp %.3g; jlora f16 vs "
                + "f32 %.3g; llama.cpp f16 vs f32 %.3g%n", seq.length, f16VsF16, oursF16VsF32, theirsF16VsF32);
        // Measured 2026-11-23: 0.032, 0.018 and 0.023 (logits of magnitude ~10). llama.cpp's extra fp16 roundings make
        // the two fp16 runs differ more than either differs from its fp32 run, so the bounds are loose multiples.
        assertTrue(f16VsF16 < 0.1, "jlora and llama.cpp with fp16 KV caches: max |Δlogit| " + f16VsF16);
        assertTrue(oursF16VsF32 > ABS, "the fp16 cache changes the logits (max |Δ| " + oursF16VsF32 + ")");
        assertTrue(oursF16VsF32 < 1.5 * theirsF16VsF32, "jlora's fp16 cache moves the logits " + oursF16VsF32
                + ", llama.cpp's " + theirsF16VsF32);
        for (int t = Golden.PROMPT_IDS.length - 1; t + 1 < seq.length; t++) {
            assertEquals(seq[t + 1], argmax(oursF16, t * V, V), "the golden greedy continuation at position " + t);
        }
    }

    private static int argmax(float[] a, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (a[off + i] > a[off + best]) {
                best = i;
            }
        }
        return best;
    }

    /** The golden prompt and its 60 greedy tokens (README): 65 positions. */
    private static int[] goldenSequence() {
        return IntStream.concat(IntStream.of(Golden.PROMPT_IDS), IntStream.of(Golden.GREEDY_60)).toArray();
    }

    private static double maxDiff(float[] a, float[] b) {
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        return worst;
    }
}
