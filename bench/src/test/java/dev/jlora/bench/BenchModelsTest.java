package dev.jlora.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.safetensors.SafetensorsDtype;
import dev.jlora.quant.QuantType;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The benchmark models: the shapes as loaded, GQA included, and the same model through GGUF and safetensors. */
class BenchModelsTest {
    static final Path VOCAB = Path.of(System.getProperty("jlora.models")).resolve("vocab/ggml-vocab-llama-spm.gguf");

    @Test
    void gqaShapeAsGgufAndAsHuggingFaceDirectoryGivesTheSameLogits(@TempDir Path dir) throws Exception {
        // a small shape with TinyLlama's head grouping (8 query heads over 2 key/value heads)
        var shape = new BenchModels.Shape("tiny-gqa", 64, 160, 2, 8, 2, 32000, 64);
        Path gguf = BenchModels.write(shape, QuantType.F32, VOCAB, dir.resolve("tiny.gguf"), 42);
        Path hf = BenchModels.writeHf(shape, QuantType.F32, VOCAB, gguf, dir.resolve("tiny-hf"), SafetensorsDtype.F32, 42);
        assertTrue(Files.isRegularFile(hf.resolve("model.safetensors")) && Files.isRegularFile(hf.resolve("config.json")));
        LlamaModel a = ModelLoader.load(gguf), b = ModelLoader.load(hf);
        for (LlamaModel m : new LlamaModel[] {a, b}) {
            assertEquals(8, m.config().nHeads());
            assertEquals(2, m.config().nKvHeads());
            assertEquals(shape.kvDim(), m.weights().layers().get(0).wk().rows());
            assertEquals(160, m.weights().layers().get(1).wGate().rows());
        }
        int[] tokens = a.tokenizer().encode("Once upon a time", true, false);
        float[] la = new InferenceSession(a, AdapterSet.NONE, 32).forwardAllLogits(tokens);
        float[] lb = new InferenceSession(b, AdapterSet.NONE, 32).forwardAllLogits(tokens);
        assertEquals(la.length, lb.length);
        for (int i = 0; i < la.length; i++) {
            assertEquals(la[i], lb[i], 1e-5 + 1e-5 * Math.abs(la[i]), "logit " + i);
        }
        var e = assertThrows(IllegalArgumentException.class, () -> BenchModels.writeHf(shape, QuantType.Q4_0, VOCAB,
                dir.resolve("q.gguf"), dir.resolve("q-hf"), SafetensorsDtype.F16, 42));
        assertTrue(e.getMessage().contains("F32 or F16 GGUF"), e.getMessage());
    }

    @Test
    void namedShapesIncludeTheOneBillionClassGqaShape() {
        var s = BenchModels.shape("1B");
        assertEquals(BenchModels.TINYLLAMA_1B, s);
        long params = (long) s.vocab() * s.dim() * 2 + (long) s.layers()
                * ((long) s.dim() * s.dim() * 2 + 2L * s.kvDim() * s.dim() + 3L * s.hidden() * s.dim());
        assertTrue(params > 1_000_000_000L && params < 1_200_000_000L, params + " parameters");
        assertEquals(256, s.kvDim());
        var e = assertThrows(IllegalArgumentException.class, () -> BenchModels.shape("7B"));
        assertTrue(e.getMessage().contains("tinyllama1B"), e.getMessage());
    }
}
