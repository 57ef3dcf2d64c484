package dev.jlora.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.InferenceSession;
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
        int[] seq = IntStream.concat(IntStream.of(Golden.PROMPT_IDS), IntStream.of(Golden.GREEDY_60)).toArray();
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
}
