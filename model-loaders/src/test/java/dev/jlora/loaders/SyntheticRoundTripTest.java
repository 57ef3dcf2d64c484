package dev.jlora.loaders;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.gguf.GgufFile;
import dev.jlora.loaders.gguf.GgufReader;
import dev.jlora.loaders.safetensors.SafetensorsDtype;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Shapes the fixtures lack (qwen2 biases, tied embeddings, GQA in HF layout) through every writer and loader. */
class SyntheticRoundTripTest {

    @TempDir
    Path dir;

    private static final ModelLoader.LoadOptions NO_TOKENIZER = new ModelLoader.LoadOptions(null, false);
    private static final int[] TOKENS = {1, 17, 200, 5, 99, 42, 7};

    static float[] logits(LlamaModel m) {
        return new InferenceSession(m, AdapterSet.NONE, 16).prefill(TOKENS).clone();
    }

    /** Same weights, possibly another rotary pair layout (summation order inside a head): 1e-4 absolute. */
    static void assertClose(float[] want, float[] got) {
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-4, "logit " + i);
        }
    }

    @Test
    void qwen2WithBiasesAndTiedEmbeddings() throws Exception {
        LlamaConfig c = new LlamaConfig("qwen2", 64, 96, 2, 4, 2, 16, 300, 512, 1e-6f, 1e6f,
                LlamaConfig.RopeScaling.NONE, false, true, true);
        LlamaModel m = SyntheticModel.random(c, 7, null);
        float[] want = logits(m);

        Path hf = dir.resolve("qwen2-hf");
        ModelWriter.writeHf(m, hf, SafetensorsDtype.F32);
        LlamaModel fromHf = ModelLoader.load(hf, NO_TOKENIZER);
        assertEquals(c, fromHf.config());
        assertSame(fromHf.weights().tokenEmbedding(), fromHf.weights().output());
        assertArrayEquals(m.weights().layers().get(1).bk(), fromHf.weights().layers().get(1).bk());
        assertClose(want, logits(fromHf));

        Path gguf = dir.resolve("qwen2.gguf");
        ModelWriter.writeGguf(fromHf, gguf, null);
        try (GgufFile f = GgufReader.open(gguf)) {
            assertFalse(f.hasTensor("output.weight"));
            assertEquals(1e6f, f.getFloat("qwen2.rope.freq_base"));
        }
        LlamaModel fromGguf = ModelLoader.load(gguf, NO_TOKENIZER);
        assertEquals(c, fromGguf.config()); // qwen2 GGUF: NeoX rope, rows not permuted
        assertArrayEquals(m.weights().layers().get(0).bq(), fromGguf.weights().layers().get(0).bq());
        assertClose(want, logits(fromGguf));
    }

    @Test
    void llamaGqaFromHfLayoutToGgufLayoutAndBack() throws Exception {
        LlamaConfig c = new LlamaConfig("llama", 96, 160, 2, 6, 2, 16, 300, 512, 1e-5f, 10000f,
                LlamaConfig.RopeScaling.NONE, false, false, false);
        LlamaModel m = SyntheticModel.random(c, 11, null);
        float[] want = logits(m);
        Path gguf = dir.resolve("llama.gguf");
        ModelWriter.writeGguf(m, gguf, null);
        LlamaModel g = ModelLoader.load(gguf, NO_TOKENIZER);
        assertTrue(g.config().ropeInterleaved());
        float[] q0 = new float[96];
        float[] q1 = new float[96];
        m.weights().layers().get(0).wk().dequantizeRow(16 + 8, q0, 0);          // HF row 8 of kv head 1
        g.weights().layers().get(0).wk().dequantizeRow(16 + 1, q1, 0);          // is GGUF row 1 of kv head 1
        assertArrayEquals(q0, q1);
        assertClose(want, logits(g));
        Path hf = dir.resolve("llama-hf");
        ModelWriter.writeHf(g, hf, SafetensorsDtype.F32);
        assertClose(want, logits(ModelLoader.load(hf, NO_TOKENIZER)));
    }

    @Test
    void syntheticModelsAreDeterministic() {
        LlamaConfig c = SyntheticModel.storiesShape("stories15M", 512);
        assertEquals(288, c.dim());
        assertEquals(48, c.headDim());
        LlamaConfig small = new LlamaConfig("llama", 32, 64, 1, 2, 2, 16, 50, 64, 1e-5f, 10000f,
                LlamaConfig.RopeScaling.NONE, true, false, false);
        float[] a = new float[32];
        float[] b = new float[32];
        SyntheticModel.random(small, 3, null).weights().layers().get(0).wv().dequantizeRow(5, a, 0);
        SyntheticModel.random(small, 3, null).weights().layers().get(0).wv().dequantizeRow(5, b, 0);
        assertArrayEquals(a, b);
    }
}
