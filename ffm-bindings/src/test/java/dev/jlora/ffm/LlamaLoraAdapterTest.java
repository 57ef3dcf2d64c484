package dev.jlora.ffm;

import static dev.jlora.simd.testing.Approx.assertClose;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.adapter.AdapterFiles;
import dev.jlora.loaders.adapter.LoraGguf;
import dev.jlora.loaders.adapter.PeftAdapter;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A LoRA adapter exported by jlora as a llama.cpp LoRA GGUF gives, in llama.cpp (llama_adapter_lora_init +
 * llama_set_adapters_lora, F32 KV cache, flash attention off), the logits jlora computes with the same adapter
 * unmerged. The adapter is random and non-zero (A and B), on all seven projections, and goes through a PEFT
 * export/import first, so the Q/K row un-permutation and re-permutation are part of what is checked.
 */
@Tag("native")
class LlamaLoraAdapterTest {
    static final int[] PROMPT = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376};

    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void llamaCppLogitsWithTheExportedAdapterMatchJlora(boolean rsLora) throws Exception {
        LlamaLib lib = NativeReference.llamaOrSkip();
        Path gguf = NativeReference.models().resolve("stories260K.gguf");
        LlamaModel model = ModelLoader.load(gguf, new ModelLoader.LoadOptions(null, false));
        var set = TrainableAdapterSet.lora(model.weights(),
                new LoraConfig(4, 6f, 0f, rsLora, EnumSet.allOf(Target.class)), 17);
        var rnd = new SplittableRandom(rsLora ? 23 : 29);
        for (var a : set.adapters()) {
            var l = (LoraAdapter) a;
            fill(rnd, l.loraA().value(), 0.3);
            fill(rnd, l.loraB().value(), 0.3);
        }
        Path peft = tmp.resolve("peft");
        PeftAdapter.write(peft, set, model.config(), "stories260K");
        var viaPeft = AdapterFiles.load(peft, model, msg -> {});
        Path loraFile = tmp.resolve("lora.gguf");
        LoraGguf.write(loraFile, viaPeft, model.config());

        int V = model.config().vocabSize();
        float[] want = new InferenceSession(model, set, 64).forwardAllLogits(PROMPT);
        float[] base = new InferenceSession(model, null, 64).forwardAllLogits(PROMPT);
        float[] got, llamaBase;
        try (var m = lib.loadModel(gguf); var ctx = m.newContext(64, 2); var ad = m.loadLoraAdapter(loraFile)) {
            llamaBase = ctx.decode(PROMPT, 0, true);
            ctx.clear();
            ctx.setLoraAdapters(List.of(ad), new float[] {1f});
            got = ctx.decode(PROMPT, 0, true);
        }
        // The adapter must matter: otherwise equal logits would prove nothing.
        double maxShift = 0;
        for (int i = 0; i < want.length; i++) {
            maxShift = Math.max(maxShift, Math.abs(want[i] - base[i]));
        }
        assertTrue(maxShift > 0.5, "adapter moves the logits by only " + maxShift);
        // README: jlora and llama.cpp agree to ~1e-5 on the base with an F32 KV cache; the adapter adds
        // float32 rank-4 products per projection, so 1e-3 absolute + 1e-4 relative bounds the difference.
        assertClose(base, llamaBase, 1e-3, 1e-4, () -> "base logits, " + V + " per position");
        double maxDiff = 0;
        for (int i = 0; i < want.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i]));
        }
        System.out.printf("LoRA GGUF in llama.cpp vs jlora unmerged (rsLoRA=%b): max |Δlogit| %.3g, adapter shift %.3g%n",
                rsLora, maxDiff, maxShift);
        assertClose(want, got, 1e-3, 1e-4, () -> "logits with the adapter (rsLoRA=" + rsLora + "), " + V + " per position");
    }

    /**
     * An adapter trained on the Hugging Face form of the model (half-split Q/K rows, written by jlora's HF writer)
     * exported as a LoRA GGUF must apply to llama.cpp's GGUF of the same model: its Q/K B rows are permuted into
     * llama.cpp's layout on export.
     */
    @org.junit.jupiter.api.Test
    void adapterOfAHuggingFaceBaseAppliesToTheGgufInLlamaCpp() throws Exception {
        LlamaLib lib = NativeReference.llamaOrSkip();
        Path gguf = NativeReference.models().resolve("stories260K.gguf");
        Path hfDir = tmp.resolve("hf");
        dev.jlora.loaders.ModelWriter.writeHf(ModelLoader.load(gguf, new ModelLoader.LoadOptions(null, false)), hfDir,
                dev.jlora.loaders.safetensors.SafetensorsDtype.F32);
        LlamaModel hf = ModelLoader.load(hfDir, new ModelLoader.LoadOptions(null, false));
        org.junit.jupiter.api.Assertions.assertFalse(hf.config().ropeInterleaved());
        var set = TrainableAdapterSet.lora(hf.weights(), new LoraConfig(3, 5f, 0f, false, EnumSet.of(Target.Q, Target.K, Target.O)), 5);
        var rnd = new SplittableRandom(31);
        for (var a : set.adapters()) {
            fill(rnd, ((LoraAdapter) a).loraA().value(), 0.3);
            fill(rnd, ((LoraAdapter) a).loraB().value(), 0.3);
        }
        Path loraFile = tmp.resolve("hf-lora.gguf");
        LoraGguf.write(loraFile, set, hf.config());
        float[] want = new InferenceSession(hf, set, 64).forwardAllLogits(PROMPT);
        float[] got;
        try (var m = lib.loadModel(gguf); var ctx = m.newContext(64, 2); var ad = m.loadLoraAdapter(loraFile)) {
            ctx.setLoraAdapters(List.of(ad), new float[] {1f});
            got = ctx.decode(PROMPT, 0, true);
        }
        // same bound as above: float32 paths of two engines on the same weights and adapter
        assertClose(want, got, 1e-3, 1e-4, () -> "HF-base adapter applied by llama.cpp to the GGUF base");
    }

    private static void fill(SplittableRandom rnd, float[] x, double s) {
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) ((rnd.nextDouble() * 2 - 1) * s);
        }
    }
}
