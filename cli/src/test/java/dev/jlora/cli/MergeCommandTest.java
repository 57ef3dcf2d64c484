package dev.jlora.cli;

import static dev.jlora.simd.testing.Approx.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.adapter.AdapterFiles;
import dev.jlora.quant.QuantType;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jlora merge} on stories260K with a random non-zero adapter (saved as PEFT, the common input). */
class MergeCommandTest {
    static final int[] PROMPT = {1, 403, 407, 261, 378, 432, 383, 286};

    @TempDir
    static Path tmp;
    static Path gguf, adapter;
    static LlamaModel model;
    static TrainableAdapterSet set;

    @BeforeAll
    static void setUp() throws Exception {
        gguf = CliRun.models().resolve("stories260K.gguf");
        model = ModelLoader.load(gguf);
        set = TrainableAdapterSet.lora(model.weights(), new LoraConfig(4, 8f, 0f, false, EnumSet.allOf(Target.class)), 9);
        var rnd = new SplittableRandom(13);
        for (var a : set.adapters()) {
            float[] b = ((LoraAdapter) a).loraB().value();
            for (int i = 0; i < b.length; i++) {
                b[i] = (float) ((rnd.nextDouble() - 0.5) * 0.2);
            }
        }
        adapter = tmp.resolve("peft");
        AdapterFiles.save(adapter, AdapterFiles.Format.PEFT, set, model.config(), "stories260K");
    }

    /** Logits of the merged file equal the unmerged adapter's: W + ΔW computed once in fp32, no re-quantization. */
    @Test
    void mergedF32GgufAndHfDirectoryGiveTheUnmergedLogits() throws Exception {
        float[] want = new InferenceSession(model, set, 16).forwardAllLogits(PROMPT);
        float[] base = new InferenceSession(model, null, 16).forwardAllLogits(PROMPT);
        double shift = 0;
        for (int i = 0; i < want.length; i++) {
            shift = Math.max(shift, Math.abs(want[i] - base[i]));
        }
        assertTrue(shift > 0.1, "the adapter must change the logits, moved " + shift);
        for (String out : new String[] {"merged.gguf", "merged-hf"}) {
            Path p = tmp.resolve(out);
            var run = CliRun.of("merge", gguf.toString(), "--adapter", adapter.toString(), "--out", p.toString());
            assertEquals(0, run.code(), run.err());
            LlamaModel merged = ModelLoader.load(p);
            assertEquals(QuantType.F32, merged.weights().layers().get(2).wq().type());
            float[] got = new InferenceSession(merged, null, 16).forwardAllLogits(PROMPT);
            // x·(W + ΔW)ᵀ against x·Wᵀ + (x·Aᵀ)·Bᵀ·s in float32: rounding differs by ~1e-6 per product
            assertClose(want, got, 1e-4, 1e-5, () -> out);
            double delta = delta(run.out());
            assertEquals(0, delta, 1e-5, run.out());
        }
    }

    /** A quantized output re-quantizes W + ΔW; the command reports the eval-loss change it causes. */
    @Test
    void requantizedMergeReportsTheQualityDelta() throws Exception {
        Path p = tmp.resolve("merged-q8.gguf");
        var run = CliRun.of("merge", gguf.toString(), "--adapter", adapter.toString(), "--out", p.toString(), "--to", "q8_0");
        assertEquals(0, run.code(), run.err());
        assertTrue(run.out().contains("unmerged adapter:") && run.out().contains("merged (as written):"), run.out());
        LlamaModel merged = ModelLoader.load(p);
        assertEquals(QuantType.Q8_0, merged.weights().layers().get(0).wq().type());
        double delta = delta(run.out());
        // Q8_0 of W + ΔW moves the loss a little, never by much on this model: stated bound 0.05 nats
        assertTrue(Math.abs(delta) < 0.05, "delta " + delta);

        var bad = CliRun.of("merge", gguf.toString(), "--adapter", adapter.toString(), "--out", tmp.resolve("hf-q").toString(), "--to", "q4_0");
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("f32, f16 or bf16"), bad.err());
    }

    /**
     * A base quantized at load (as 'jlora train --quant q8_0' trains on it): ΔW is added to the dequantized Q8_0
     * weights and the sum re-quantized to Q8_0, bit for bit what ggml's reference quantizer gives for that sum.
     */
    @Test
    void quantizedBaseIsMergedOnItsDequantizedWeightsAndRequantized() throws Exception {
        LlamaModel q8 = ModelLoader.load(gguf, ModelLoader.LoadOptions.withQuant("q8_0"));
        Path p = tmp.resolve("merged-from-q8.gguf");
        var run = CliRun.of("merge", gguf.toString(), "--quant", "q8_0", "--adapter", adapter.toString(), "--out", p.toString());
        assertEquals(0, run.code(), run.err());
        assertTrue(run.out().contains("Q8_0 linear weights; base had Q8_0"), run.out());
        LlamaModel merged = ModelLoader.load(p);
        var adapters = AdapterFiles.load(adapter, q8, m -> {});
        for (Target t : new Target[] {Target.Q, Target.V, Target.UP}) {
            var base = TrainableAdapterSet.baseWeight(q8.weights().layers().get(3), t);
            int rows = base.rows(), cols = base.cols();
            float[] w = new float[rows * cols];
            for (int r = 0; r < rows; r++) {
                base.dequantizeRow(r, w, r * cols);
            }
            adapters.get(3, t).mergeInto(w);
            var want = QuantType.Q8_0.quantize(w, rows, cols);
            var got = TrainableAdapterSet.baseWeight(merged.weights().layers().get(3), t);
            assertEquals(QuantType.Q8_0, got.type(), t.toString());
            float[] a = new float[cols], b = new float[cols];
            for (int r = 0; r < rows; r++) {
                want.dequantizeRow(r, a, 0);
                got.dequantizeRow(r, b, 0);
                org.junit.jupiter.api.Assertions.assertArrayEquals(a, b, t + " row " + r);
            }
        }
        assertTrue(Math.abs(delta(run.out())) < 0.05, run.out());
    }

    private static double delta(String out) {
        Matcher m = Pattern.compile("delta:\\s+([-+0-9.]+) nats").matcher(out);
        assertTrue(m.find(), out);
        return Double.parseDouble(m.group(1));
    }
}
