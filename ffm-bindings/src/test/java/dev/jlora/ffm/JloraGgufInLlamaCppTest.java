package dev.jlora.ffm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.ModelWriter;
import dev.jlora.loaders.SyntheticModel;
import dev.jlora.loaders.safetensors.SafetensorsDtype;
import dev.jlora.quant.QuantType;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * GGUF files written by jlora's ModelWriter, loaded by llama.cpp itself: the metadata keys, tensor layout, Q/K
 * permutation (llama) or its absence (qwen2), biases and quantized blocks must mean to llama.cpp what they mean to
 * jlora. Each test compares llama.cpp's logits with jlora's on the same file.
 */
@Tag("native")
class JloraGgufInLlamaCppTest {

    @TempDir
    Path dir;

    static final int[] PROMPT = {1, 403, 407, 261, 378};

    private static float[] jloraLogits(LlamaModel m) {
        return new InferenceSession(m, AdapterSet.NONE, 16).prefill(PROMPT).clone();
    }

    private static float[] llamaCppLogits(LlamaLib lib, Path gguf) throws Exception {
        try (var model = lib.loadModel(gguf); var ctx = model.newContext(16, 2)) {
            return ctx.decode(PROMPT, 0, false).clone();
        }
    }

    private static void assertClose(float[] want, float[] got, double tol, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], tol, what + ": logit " + i);
        }
    }

    /** stories260K via a Hugging Face directory (Q/K un-permuted) and back to GGUF (permuted again). */
    @Test
    void stories260KThroughHfDirectoryBackToGguf() throws Exception {
        LlamaLib lib = NativeReference.llamaOrSkip();
        LlamaModel m = ModelLoader.load(NativeReference.models().resolve("stories260K.gguf"));
        Path hf = dir.resolve("hf");
        ModelWriter.writeHf(m, hf, SafetensorsDtype.F32);
        Path gguf = dir.resolve("back.gguf");
        ModelWriter.writeGguf(ModelLoader.load(hf), gguf, null);
        float[] ref = llamaCppLogits(lib, NativeReference.models().resolve("stories260K.gguf"));
        // Same F32 weights: llama.cpp must compute what it computes on the original file (F32 KV, no flash attn).
        assertClose(ref, llamaCppLogits(lib, gguf), 1e-5, "llama.cpp on jlora's GGUF vs the original");
    }

    /**
     * Q8_0 export: llama.cpp's Q8_0 matmul also quantizes the activations to 8 bits (and its F16 matmul, used for
     * the 172-wide ffn_down rows, rounds them to fp16), while jlora dequantizes the weights and keeps activations
     * fp32. On this model the two differ by at most about 0.15 on logits up to 18 (measured); 0.25 bounds it.
     */
    @Test
    void q8_0ExportMatchesJloraOnTheSameFile() throws Exception {
        LlamaLib lib = NativeReference.llamaOrSkip();
        LlamaModel m = ModelLoader.load(NativeReference.models().resolve("stories260K.gguf"));
        Path q8 = dir.resolve("q8.gguf");
        ModelWriter.writeGguf(m, q8, QuantType.Q8_0);
        float[] ours = jloraLogits(ModelLoader.load(q8));
        float[] theirs = llamaCppLogits(lib, q8);
        assertArrayEquals(LlamaLibTest.topK(theirs, 3), LlamaLibTest.topK(ours, 3));
        double max = 0;
        for (int i = 0; i < ours.length; i++) {
            max = Math.max(max, Math.abs(ours[i] - theirs[i]));
        }
        System.out.printf("Q8_0 stories260K: max |jlora - llama.cpp| logit difference %.4f%n", max);
        assertClose(theirs, ours, 0.25, "Q8_0 file, jlora vs llama.cpp");
    }

    /** A qwen2 model (NeoX rope, q/k/v biases, tied embeddings, GQA) with stories260K's vocabulary. */
    @Test
    void syntheticQwen2MatchesLlamaCpp() throws Exception {
        LlamaLib lib = NativeReference.llamaOrSkip();
        var tok = ModelLoader.load(NativeReference.models().resolve("stories260K.gguf")).tokenizer();
        LlamaConfig c = new LlamaConfig("qwen2", 64, 96, 2, 4, 2, 16, 512, 256, 1e-6f, 1e6f,
                LlamaConfig.RopeScaling.NONE, false, true, true);
        LlamaModel m = SyntheticModel.random(c, 5, tok);
        Path p = dir.resolve("qwen2.gguf");
        ModelWriter.writeGguf(m, p, null);
        // F32 throughout; only summation order differs.
        assertClose(jloraLogits(m), llamaCppLogits(lib, p), 1e-3, "qwen2");
    }

    /** A llama model built in the Hugging Face layout (GQA 6:2): the writer's permutation is llama.cpp's. */
    @Test
    void syntheticLlamaFromHfLayoutMatchesLlamaCpp() throws Exception {
        LlamaLib lib = NativeReference.llamaOrSkip();
        var tok = ModelLoader.load(NativeReference.models().resolve("stories260K.gguf")).tokenizer();
        LlamaConfig c = new LlamaConfig("llama", 96, 160, 2, 6, 2, 16, 512, 256, 1e-5f, 10000f,
                LlamaConfig.RopeScaling.NONE, false, false, false);
        LlamaModel m = SyntheticModel.random(c, 9, tok);
        Path p = dir.resolve("llama.gguf");
        ModelWriter.writeGguf(m, p, null);
        assertClose(jloraLogits(m), llamaCppLogits(lib, p), 1e-3, "llama from HF layout");
    }

    /**
     * YaRN (factor 8 over an original context of 32, β 32/1, attention factor 1.5) and Llama 3.1's scaling (as the
     * rope_freqs.weight divisors the writer stores), in a llama model with 16-wide heads, so that across the prompt's
     * positions some pairs extrapolate, some interpolate and some blend: llama.cpp reads the GGUF keys and tensor
     * and must compute jlora's logits. F32 throughout; llama.cpp builds its angles in float (θ·scale^i iterated),
     * jlora in double, so 1e-3 as for the unscaled synthetic models.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"yarn", "llama3"})
    void ropeScaledLlamaMatchesLlamaCpp(String kind) throws Exception {
        LlamaLib lib = NativeReference.llamaOrSkip();
        var tok = ModelLoader.load(NativeReference.models().resolve("stories260K.gguf")).tokenizer();
        LlamaConfig.RopeScaling scaling = kind.equals("yarn")
                ? LlamaConfig.RopeScaling.yarn(8f, 32, 32f, 1f, 1.5f)
                : new LlamaConfig.RopeScaling(LlamaConfig.RopeScaling.Type.LLAMA3, 8f, 64, 1f, 4f);
        LlamaConfig c = new LlamaConfig("llama", 64, 96, 2, 4, 2, 16, 512, 256, 1e-5f, 10000f, scaling,
                true, false, false);
        LlamaModel m = SyntheticModel.random(c, 21, tok);
        Path p = dir.resolve(kind + ".gguf");
        ModelWriter.writeGguf(m, p, null);
        float[] theirs = llamaCppLogits(lib, p);
        assertClose(jloraLogits(m), theirs, 1e-3, kind + " rope scaling");
        assertClose(jloraLogits(ModelLoader.load(p)), theirs, 1e-3, kind + " rope scaling, jlora reading the GGUF");
        // The scaling changes the logits well beyond the tolerance: the comparison does test it.
        LlamaConfig plain = new LlamaConfig("llama", 64, 96, 2, 4, 2, 16, 512, 256, 1e-5f, 10000f,
                LlamaConfig.RopeScaling.NONE, true, false, false);
        float[] unscaled = jloraLogits(new LlamaModel(plain, m.weights(), tok));
        double diff = 0;
        for (int i = 0; i < unscaled.length; i++) {
            diff = Math.max(diff, Math.abs(unscaled[i] - theirs[i]));
        }
        assertTrue(diff > 1e-2, kind + ": unscaled logits differ by only " + diff);
    }
}
