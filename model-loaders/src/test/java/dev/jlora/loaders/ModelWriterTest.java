package dev.jlora.loaders;

import static dev.jlora.loaders.ModelLoaderTest.PROMPT;
import static dev.jlora.loaders.ModelLoaderTest.assertGoldenLogits;
import static dev.jlora.loaders.ModelLoaderTest.lastLogits;
import static dev.jlora.loaders.ModelLoaderTest.stories;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.gguf.GgufFile;
import dev.jlora.loaders.gguf.GgufReader;
import dev.jlora.loaders.safetensors.SafetensorsDtype;
import dev.jlora.loaders.safetensors.SafetensorsFile;
import dev.jlora.loaders.safetensors.SafetensorsReader;
import dev.jlora.quant.QuantType;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelWriterTest {

    @TempDir
    Path dir;

    /** Same math, other rotary pair layout and summation order inside a head: 1e-4 on logits of size ≈ 18. */
    private static final double LAYOUT_TOLERANCE = 1e-4;

    private static void assertClose(float[] want, float[] got, double tol) {
        assertEquals(want.length, got.length);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], tol, "logit " + i);
        }
    }

    @Test
    void stories260KAsHuggingFaceDirectoryReloadsWithSameLogitsAndTokens() throws Exception {
        LlamaModel gguf = ModelLoader.load(stories());
        Path hf = dir.resolve("stories-hf");
        ModelWriter.writeHf(gguf, hf, SafetensorsDtype.F32);
        assertTrue(Files.isRegularFile(hf.resolve("config.json")));
        assertTrue(Files.isRegularFile(hf.resolve("tokenizer.model")));
        try (SafetensorsFile st = SafetensorsReader.open(hf)) {
            assertEquals(1 + 5 * 9 + 1 + 1, st.tensors().size()); // embed, 5 × (2 norms + 7 linears), norm, lm_head
            // Q rows un-permuted: HF row j·hs/2 + i of head 0 is GGUF row 2i + j.
            float[] qHf = st.readFloats("model.layers.0.self_attn.q_proj.weight");
            float[] qGguf = new float[64];
            gguf.weights().layers().get(0).wq().dequantizeRow(2, qGguf, 0); // GGUF row 2 = HF row 1
            float[] row1 = java.util.Arrays.copyOfRange(qHf, 64, 128);
            assertArrayEquals(qGguf, row1);
        }
        LlamaModel back = ModelLoader.load(hf);
        LlamaConfig c = gguf.config();
        assertEquals(new LlamaConfig(c.architecture(), c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(),
                c.headDim(), c.vocabSize(), c.contextLength(), c.rmsEps(), c.ropeTheta(), c.ropeScaling(), false,
                false, false), back.config());
        assertArrayEquals(PROMPT, back.tokenizer().encode("Once upon a time", true, false));
        assertEquals("Once upon a time, there was a little girl named Lily.", back.tokenizer().decode(
                gguf.tokenizer().encode("Once upon a time, there was a little girl named Lily.", false, false)).strip());
        float[] want = lastLogits(gguf);
        float[] got = lastLogits(back);
        assertClose(want, got, LAYOUT_TOLERANCE);
        assertGoldenLogits(got);

        // And back to GGUF: Q/K rows permuted again, logits as the original.
        Path again = dir.resolve("again.gguf");
        ModelWriter.writeGguf(back, again, null);
        LlamaModel g2 = ModelLoader.load(again);
        assertTrue(g2.config().ropeInterleaved());
        assertClose(want, lastLogits(g2), LAYOUT_TOLERANCE);
        try (GgufFile f = GgufReader.open(again); GgufFile orig = GgufReader.open(stories())) {
            // The same bytes as the original file for every tensor: the permutation round trip is exact.
            for (var t : orig.tensors()) {
                assertArrayEquals(orig.tensorData(t).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                        f.tensorData(t.name()).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), t.name());
            }
        }
    }

    @Test
    void ggufExportKeepsLogitsExactlyAndQuantizesLikeLoadTime() throws Exception {
        LlamaModel m = ModelLoader.load(stories());
        Path copy = dir.resolve("copy.gguf");
        ModelWriter.writeGguf(m, copy, null);
        try (GgufFile f = GgufReader.open(copy); GgufFile orig = GgufReader.open(stories())) {
            for (var t : orig.tensors()) {
                assertArrayEquals(orig.tensorData(t).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                        f.tensorData(t.name()).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), t.name());
            }
        }
        // Same bytes; the Vector API kernels may still round differently between JIT tiers: 1e-5.
        assertClose(lastLogits(m), lastLogits(ModelLoader.load(copy)), 1e-5);

        Path q8 = dir.resolve("q8.gguf");
        ModelWriter.writeGguf(m, q8, QuantType.Q8_0);
        LlamaModel fromFile = ModelLoader.load(q8);
        assertEquals(QuantType.Q8_0, fromFile.weights().layers().get(0).wq().type());
        assertEquals(QuantType.F16, fromFile.weights().layers().get(0).wDown().type());
        assertEquals(QuantType.Q8_0, fromFile.weights().output().type());
        try (GgufFile f = GgufReader.open(q8)) {
            assertEquals(7, f.getInt("general.file_type"));
            assertEquals("llama", f.getString("tokenizer.ggml.model"));
            assertEquals(512, f.getStringArray("tokenizer.ggml.tokens").size());
        }
        // ggml's reference quantizer on the same rows, whether at load or at export: bit-identical blocks.
        LlamaModel atLoad = ModelLoader.load(stories(), ModelLoader.LoadOptions.withQuant("q8_0"));
        for (int l = 0; l < 5; l++) {
            var x = atLoad.weights().layers().get(l);
            var y = fromFile.weights().layers().get(l);
            for (var pair : java.util.List.of(java.util.List.of(x.wq(), y.wq()), java.util.List.of(x.wk(), y.wk()),
                    java.util.List.of(x.wGate(), y.wGate()), java.util.List.of(x.wDown(), y.wDown()))) {
                float[] rx = new float[pair.get(0).cols()];
                float[] ry = new float[pair.get(0).cols()];
                for (int r = 0; r < pair.get(0).rows(); r++) {
                    pair.get(0).dequantizeRow(r, rx, 0);
                    pair.get(1).dequantizeRow(r, ry, 0);
                    assertArrayEquals(rx, ry, "layer " + l + " " + pair.get(0).type() + " row " + r);
                }
            }
        }
        // The export also quantizes the output head (load-time quantization keeps it F32): logits move a little.
        float[] b = lastLogits(fromFile);
        assertEquals(ModelLoaderTest.TOP5[0], argmax(b));
        assertClose(lastLogits(atLoad), b, 0.25);

        Path q4k = dir.resolve("q4k.gguf");
        ModelWriter.writeGguf(m, q4k, QuantType.Q4_K);
        LlamaModel k = ModelLoader.load(q4k);
        assertEquals(QuantType.Q5_0, k.weights().layers().get(0).wq().type()); // 64-element rows: fallback
        assertFalse(Files.size(q4k) >= Files.size(stories()));
    }

    @Test
    void bf16HuggingFaceExportLoads() throws Exception {
        LlamaModel m = ModelLoader.load(stories());
        Path hf = dir.resolve("bf16");
        ModelWriter.writeHf(m, hf, SafetensorsDtype.BF16);
        LlamaModel back = ModelLoader.load(hf);
        assertEquals(QuantType.BF16, back.weights().layers().get(0).wq().type());
        // bf16 keeps 8 significant bits: the greedy token stays, logits move by a few 1e-2.
        float[] l = lastLogits(back);
        assertEquals(ModelLoaderTest.TOP5[0], argmax(l));
        assertClose(lastLogits(m), l, 0.25);
    }

    /**
     * A byte-level BPE model (GPT-2's vocabulary from its vocab-only GGUF, on random tiny weights) exported as a
     * Hugging Face directory: tokenizer.json is written, and the reloaded model tokenizes every llama.cpp case as the
     * GGUF does and computes the same logits (HF layout: 1e-4, as for stories260K).
     */
    @Test
    void bytelevelBpeModelExportsItsTokenizerJson() throws Exception {
        var tok = dev.jlora.loaders.tokenizer.Tokenizers.fromGguf(
                stories().resolveSibling("vocab").resolve("ggml-vocab-gpt-2.gguf"));
        LlamaConfig c = new LlamaConfig("llama", 16, 24, 1, 2, 2, 8, tok.vocabSize(), 64, 1e-5f, 10000f,
                LlamaConfig.RopeScaling.NONE, true, true, false);
        LlamaModel m = SyntheticModel.random(c, 3, tok);
        Path hf = dir.resolve("gpt2-hf");
        ModelWriter.writeHf(m, hf, SafetensorsDtype.F32);
        assertTrue(Files.isRegularFile(hf.resolve("tokenizer.json")));
        LlamaModel back = ModelLoader.load(hf);
        Path vocab = stories().resolveSibling("vocab");
        String inp = Files.readString(vocab.resolve("ggml-vocab-gpt-2.gguf.inp"));
        for (String text : inp.split("\n__ggml_vocab_test__\n")) {
            assertArrayEquals(tok.encode(text, false, false), back.tokenizer().encode(text, false, false), text);
        }
        int[] ids = tok.encode("Once upon a time", false, false);
        float[] want = new dev.jlora.engine.infer.InferenceSession(m, dev.jlora.engine.adapter.AdapterSet.NONE, 8)
                .prefill(ids).clone();
        float[] got = new dev.jlora.engine.infer.InferenceSession(back, dev.jlora.engine.adapter.AdapterSet.NONE, 8)
                .prefill(ids);
        assertClose(want, got, LAYOUT_TOLERANCE);
    }

    private static int argmax(float[] a) {
        int best = 0;
        for (int i = 1; i < a.length; i++) {
            if (a[i] > a[best]) {
                best = i;
            }
        }
        return best;
    }
}
