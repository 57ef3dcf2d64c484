package dev.jlora.loaders;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.MemoryBudget;
import dev.jlora.loaders.gguf.GgufFile;
import dev.jlora.loaders.gguf.GgufReader;
import dev.jlora.loaders.gguf.GgufTensorInfo;
import dev.jlora.loaders.gguf.GgufWriter;
import dev.jlora.quant.QuantType;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelLoaderTest {

    static Path stories() {
        return Path.of(System.getProperty("jlora.models", "../shared/models"), "stories260K.gguf");
    }

    /** Golden values from shared/models/README.md (llama.cpp v0.5.0, F32 KV cache, flash attention off). */
    static final int[] PROMPT = {1, 403, 407, 261, 378};
    static final int[] TOP5 = {432, 383, 322, 353, 323};
    static final float[] TOP5_LOGITS = {17.7994f, 14.2813f, 9.7097f, 9.5873f, 9.1342f};
    static final float[] FIRST8 = {-10.13658f, -5.32946f, -10.13808f, -10.13686f, -10.13721f, -10.13833f,
            -10.13727f, -10.13764f};

    static float[] lastLogits(LlamaModel m) {
        return new InferenceSession(m, AdapterSet.NONE, 16).prefill(PROMPT).clone();
    }

    /** README: logits match llama.cpp to about 1e-5; 1e-3 leaves room for summation order. */
    static void assertGoldenLogits(float[] logits) {
        for (int i = 0; i < 8; i++) {
            assertEquals(FIRST8[i], logits[i], 1e-3, "logit " + i);
        }
        for (int i = 0; i < 5; i++) {
            assertEquals(TOP5_LOGITS[i], logits[TOP5[i]], 1e-3, "logit of top-" + (i + 1) + " id " + TOP5[i]);
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"none", "q8_0", "q4_0", "nf4"})
    void memoryBudgetIsCheckedBeforeLoadingAndPredictsTheLoadedSizeExactly(String quant) throws Exception {
        var options = quant.equals("none") ? ModelLoader.LoadOptions.DEFAULT : ModelLoader.LoadOptions.withQuant(quant);
        long actual = ModelLoader.load(stories(), options).weights().storageBytes();
        // a budget of exactly the loaded size fits; one byte less fails, before anything is quantized
        var fits = ModelLoader.load(stories(), options.withMemory(new MemoryBudget(actual)));
        assertEquals(actual, fits.weights().storageBytes());
        var e = assertThrows(MemoryBudget.ExceededException.class,
                () -> ModelLoader.load(stories(), options.withMemory(new MemoryBudget(actual - 1))));
        assertTrue(e.getMessage().contains("the weights of stories260K.gguf"), e.getMessage());
        assertTrue(e.getMessage().contains("need " + MemoryBudget.format(actual)), e.getMessage());
    }

    @Test
    void loadsStories260KAndReproducesLlamaCppLogits() throws Exception {
        LlamaModel m = ModelLoader.load(stories());
        assertEquals(5, m.weights().layers().size());
        assertEquals(QuantType.F32, m.weights().layers().get(2).wq().type());
        assertEquals(64, m.weights().layers().get(0).wq().rows());
        assertEquals(32, m.weights().layers().get(0).wk().rows());
        assertEquals(172, m.weights().layers().get(0).wDown().cols());
        assertEquals(512, m.weights().tokenEmbedding().rows());
        assertTrue(m.config().ropeInterleaved());
        assertArrayEquals(PROMPT, m.tokenizer().encode("Once upon a time", true, false));
        assertGoldenLogits(lastLogits(m));
        assertNull(ModelLoader.load(stories(), new ModelLoader.LoadOptions(null, false)).tokenizer());
    }

    @Test
    void quantizesLinearWeightsAtLoadWithFallbackForShortRows() throws Exception {
        LlamaModel m = ModelLoader.load(stories(), ModelLoader.LoadOptions.withQuant("q8_0"));
        var layer = m.weights().layers().get(0);
        assertEquals(QuantType.Q8_0, layer.wq().type());
        assertEquals(QuantType.Q8_0, layer.wGate().type());
        // ffn_down rows have 172 elements: not a multiple of 32, so llama.cpp's fallback F16.
        assertEquals(QuantType.F16, layer.wDown().type());
        assertEquals(QuantType.F32, m.weights().tokenEmbedding().type());
        // the head is a linear: quantized too; the embedding keeps its stored format
        assertEquals(QuantType.Q8_0, m.weights().output().type());
        float[] logits = lastLogits(m);
        // Q8_0 weights: the greedy choice stays; logits move by a few 1e-2 at most on this model.
        assertEquals(TOP5[0], argmax(logits));
        assertEquals(TOP5_LOGITS[0], logits[TOP5[0]], 0.1);

        LlamaModel k = ModelLoader.load(stories(), ModelLoader.LoadOptions.withQuant("q4_k"));
        assertEquals(QuantType.Q5_0, k.weights().layers().get(0).wq().type()); // 64-element rows: Q4_K → Q5_0
        assertEquals(QuantType.NF4, ModelLoader.load(stories(), ModelLoader.LoadOptions.withQuant("nf4"))
                .weights().layers().get(0).wq().type());
        assertSame(null, QuantPlan.parse("none"));
        assertThrows(IllegalArgumentException.class, () -> QuantPlan.parse("q3"));
    }

    @Test
    void releasingTheMappedPagesOfWeightsQuantizedAtLoadChangesNoValue() throws Exception {
        // Reference: the same file loaded as stored (pages kept) with its block weights and head quantized
        // afterwards, in memory. Quantizing at load releases the mapped pages of each source row run (madvise
        // DONTNEED) once read; the embedding shares that mapping and must still read back from the file: logits
        // equal (1e-5: same values, kernels may reduce in another order).
        LlamaModel stored = ModelLoader.load(stories());
        java.util.function.UnaryOperator<dev.jlora.quant.QuantMatrix> nf4 =
                m -> QuantPlan.forColumns(QuantType.NF4, m.cols()).quantize(m);   // the loader's fallback for 172
        var layers = new java.util.ArrayList<dev.jlora.engine.model.LlamaWeights.Layer>();
        for (var l : stored.weights().layers()) {
            layers.add(new dev.jlora.engine.model.LlamaWeights.Layer(l.attnNorm(), nf4.apply(l.wq()),
                    nf4.apply(l.wk()), nf4.apply(l.wv()), nf4.apply(l.wo()), l.bq(), l.bk(), l.bv(), l.ffnNorm(),
                    nf4.apply(l.wGate()), nf4.apply(l.wUp()), nf4.apply(l.wDown())));
        }
        var w = stored.weights();
        LlamaModel reference = new LlamaModel(stored.config(),
                new dev.jlora.engine.model.LlamaWeights(w.tokenEmbedding(), layers, w.finalNorm(), nf4.apply(w.output())),
                stored.tokenizer());
        LlamaModel atLoad = ModelLoader.load(stories(), ModelLoader.LoadOptions.withQuant("nf4"));
        assertArrayEquals(lastLogits(reference), lastLogits(atLoad), 1e-5f);
        // and the released pages read back: the stored model still gives llama.cpp's logits
        assertGoldenLogits(lastLogits(ModelLoader.load(stories())));
        // memory that is not a file mapping is left alone
        WeightSource.unloadIfMapped(java.lang.foreign.MemorySegment.ofArray(new float[4]));
    }

    /**
     * --quant quantizes the output head; --quant-embeddings the token embedding too, a lookup dequantizing its row.
     * stories260K has a head of its own; reference: the F32 model with the same matrices quantized in memory.
     */
    @Test
    void quantizedEmbeddingLooksUpItsRows() throws Exception {
        var options = ModelLoader.LoadOptions.withQuant("q8_0");
        LlamaModel headOnly = ModelLoader.load(stories(), options);
        assertEquals(QuantType.F32, headOnly.weights().tokenEmbedding().type());
        assertEquals(QuantType.Q8_0, headOnly.weights().output().type());
        LlamaModel both = ModelLoader.load(stories(), options.withQuantizedEmbedding(true));
        assertEquals(QuantType.Q8_0, both.weights().tokenEmbedding().type());
        LlamaModel stored = ModelLoader.load(stories());
        var w = both.weights();
        var ref = new LlamaModel(stored.config(), new dev.jlora.engine.model.LlamaWeights(
                QuantType.Q8_0.quantize(stored.weights().tokenEmbedding()), w.layers(), w.finalNorm(),
                QuantType.Q8_0.quantize(stored.weights().output())), stored.tokenizer());
        assertArrayEquals(lastLogits(ref), lastLogits(both), 1e-5f);
        assertEquals(TOP5[0], argmax(lastLogits(both)));
        // the F32 embedding (512 × 64) became Q8_0 (34 bytes per 32 values)
        assertEquals(headOnly.weights().storageBytes() - 512L * 64 * 4 + 512L * 2 * 34, both.weights().storageBytes());
        var e = assertThrows(IllegalArgumentException.class,
                () -> new ModelLoader.LoadOptions(null, true).withQuantizedEmbedding(true));
        assertEquals("quantizing the token embedding needs a quant type (--quant)", e.getMessage());
    }

    /**
     * A tied head under --quant is a quantized copy (the head is read whole every token; the embedding only row by
     * row), and with the embedding quantized the two are one matrix again.
     */
    @Test
    void tiedHeadGetsAQuantizedCopyOrSharesTheQuantizedEmbedding(@TempDir Path dir) throws Exception {
        var c = new dev.jlora.engine.model.LlamaConfig("llama", 64, 96, 1, 4, 2, 16, 300, 64, 1e-5f, 10000f,
                dev.jlora.engine.model.LlamaConfig.RopeScaling.NONE, true, true, false);
        Path p = dir.resolve("tied.gguf");
        ModelWriter.writeGguf(SyntheticModel.random(c, 4, null), p, null);
        var options = new ModelLoader.LoadOptions(QuantType.Q4_0, false);
        var copy = ModelLoader.load(p, options).weights();
        assertEquals(QuantType.F32, copy.tokenEmbedding().type());
        assertEquals(QuantType.Q4_0, copy.output().type());
        var shared = ModelLoader.load(p, options.withQuantizedEmbedding(true)).weights();
        assertSame(shared.tokenEmbedding(), shared.output());
        assertEquals(QuantType.Q4_0, shared.output().type());
        // the copy and the shared matrix hold the same Q4_0 rows (ggml's reference quantizer of the same F32 rows)
        float[] a = new float[64], b = new float[64];
        for (int r = 0; r < 300; r += 37) {
            copy.output().dequantizeRow(r, a, 0);
            shared.output().dequantizeRow(r, b, 0);
            assertArrayEquals(a, b, 0f, "row " + r);
        }
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

    @Test
    void missingOrMisshapenTensorsNameTensorAndShape(@TempDir Path dir) throws Exception {
        Path noQ = dir.resolve("no-q.gguf");
        Path wrongK = dir.resolve("wrong-k.gguf");
        try (GgufFile f = GgufReader.open(stories())) {
            GgufWriter a = new GgufWriter().putAll(f.metadata());
            GgufWriter b = new GgufWriter().putAll(f.metadata());
            for (GgufTensorInfo t : f.tensors()) {
                if (!t.name().equals("blk.3.attn_q.weight")) {
                    a.addTensor(t.name(), t.type(), t.shape(), f.tensorData(t));
                }
                if (t.name().equals("blk.1.attn_k.weight")) {
                    b.addTensor(t.name(), t.type(), new long[] {32, 64}, f.tensorData(t));
                } else {
                    b.addTensor(t.name(), t.type(), t.shape(), f.tensorData(t));
                }
            }
            a.write(noQ);
            b.write(wrongK);
        }
        var e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(noQ));
        assertEquals("no-q.gguf: tensor 'blk.3.attn_q.weight': is missing (the file has 47 tensors)", e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(wrongK));
        assertEquals("wrong-k.gguf: tensor 'blk.1.attn_k.weight': has shape [32, 64], expected [64, 32] "
                + "(ggml order, contiguous first)", e.getMessage());
        Path txt = dir.resolve("model.bin");
        Files.writeString(txt, "hello");
        e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(txt));
        assertTrue(e.getMessage().contains("is neither a GGUF file"), e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(dir));
        assertTrue(e.getMessage().contains("config.json is missing"), e.getMessage());
    }
}
