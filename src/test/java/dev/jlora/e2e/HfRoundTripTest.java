package dev.jlora.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.ModelWriter;
import dev.jlora.loaders.safetensors.SafetensorsDtype;
import java.nio.file.Path;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * stories260K written as a Hugging Face directory (config.json, model.safetensors F32, tokenizer.model; Q/K rows
 * un-permuted to the half-split layout) and loaded back computes the same logits as the GGUF.
 */
class HfRoundTripTest {
    @Test
    void hfDirectoryGivesTheSameLogitsAsTheGguf(@TempDir Path dir) throws Exception {
        LlamaModel gguf = ModelLoader.load(Golden.stories260K());
        ModelWriter.writeHf(gguf, dir, SafetensorsDtype.F32);
        LlamaModel hf = ModelLoader.load(dir);
        assertTrue(gguf.config().ropeInterleaved());
        assertFalse(hf.config().ropeInterleaved(), "the HF directory uses the half-split rotary layout");
        assertArrayEquals(Golden.PROMPT_IDS, hf.tokenizer().encode(Golden.PROMPT, true, false));

        int[] seq = IntStream.concat(IntStream.of(Golden.PROMPT_IDS), IntStream.of(Golden.GREEDY_60)).toArray();
        float[] a = new InferenceSession(gguf, AdapterSet.NONE, 80).forwardAllLogits(seq);
        float[] b = new InferenceSession(hf, AdapterSet.NONE, 80).forwardAllLogits(seq);
        int V = gguf.config().vocabSize();
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
            // the same F32 weights; only the order of the head channels differs (layout permutation), which changes
            // the fp32 summation order inside q·k and the rope kernel, not the math: 1e-4 as for prefill vs decode
            assertEquals(a[i], b[i], 1e-4, "position " + i / V + ", logit " + i % V);
        }
        System.out.printf("GGUF vs HF round trip on stories260K: max |Δlogit| = %.3g%n", worst);
    }
}
