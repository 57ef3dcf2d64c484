package dev.jlora.loaders.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.loaders.gguf.GgufFile;
import dev.jlora.loaders.gguf.GgufReader;
import dev.jlora.loaders.gguf.GgufWriter;
import dev.jlora.quant.QuantType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.EnumSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class LoraGgufTest {
    @TempDir
    Path tmp;

    /** The layout llama-adapter.cpp checks: a.ne = [IC, r] = W.ne[0], b.ne = [r, OC], b.ne[1] = W.ne[1]. */
    @Test
    void writesWhatLlamaCppExpects() throws IOException {
        LlamaModel model = AdapterFixtures.model(true);
        var set = AdapterFixtures.randomLora(model, EnumSet.allOf(Target.class), 3, 6f, false, 2);
        Path file = tmp.resolve("a.gguf");
        LoraGguf.write(file, set, model.config());
        try (GgufFile f = GgufReader.open(file)) {
            assertEquals("adapter", f.getString("general.type"));
            assertEquals("lora", f.getString("adapter.type"));
            assertEquals("llama", f.getString("general.architecture"));
            assertEquals(6f, f.getFloat("adapter.lora.alpha"));
            assertEquals(28, f.tensors().size());
            f.requireShape("blk.1.attn_q.weight.lora_a", 16, 3);
            f.requireShape("blk.1.attn_q.weight.lora_b", 3, 16);
            f.requireShape("blk.0.attn_k.weight.lora_b", 3, 8);
            f.requireShape("blk.0.ffn_down.weight.lora_a", 24, 3);
            f.requireShape("blk.0.ffn_gate.weight.lora_b", 3, 24);
            assertEquals(QuantType.F32, f.tensor("blk.0.attn_output.weight.lora_a").type());
            // GGUF base, llama arch: same basis, so B is stored exactly as the model holds it
            assertArrayEquals(((LoraAdapter) set.get(1, Target.Q)).loraB().value(), f.readFloats("blk.1.attn_q.weight.lora_b"));
            assertArrayEquals(((LoraAdapter) set.get(1, Target.Q)).loraA().value(), f.readFloats("blk.1.attn_q.weight.lora_a"));
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void roundTripGivesTheSameDeltaW(boolean ggufBase) throws IOException {
        LlamaModel model = AdapterFixtures.model(ggufBase);
        var set = AdapterFixtures.randomLora(model, EnumSet.of(Target.Q, Target.K, Target.UP), 4, 3f, true, 4);
        Path file = tmp.resolve("a.gguf");
        LoraGguf.write(file, set, model.config());
        var back = LoraGguf.read(file, model, m -> {});
        for (int l = 0; l < 2; l++) {
            for (Target t : set.targets()) {
                assertArrayEquals(AdapterFixtures.delta(set, l, t), AdapterFixtures.delta(back, l, t), l + " " + t);
            }
        }
        assertEquals(((LoraAdapter) set.get(0, Target.Q)).scale(), ((LoraAdapter) back.get(0, Target.Q)).scale());
        try (GgufFile f = GgufReader.open(file)) {
            // rsLoRA as llama.cpp sees it: alpha' / r = alpha / √r
            assertEquals(3f / 2f, f.getFloat("adapter.lora.alpha") / 4f, 1e-6);
        }
    }

    /** A file as convert_lora_to_gguf.py writes it: no jlora keys; scale alpha / r, alpha 0 meaning 1. */
    @Test
    void readsForeignFilesAndChecksShapes() throws IOException {
        LlamaModel model = AdapterFixtures.model(true);
        float[] a = new float[16 * 2], b = new float[2 * 8];
        for (int i = 0; i < a.length; i++) {
            a[i] = i * 0.01f;
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = 1 - i * 0.1f;
        }
        Path file = tmp.resolve("foreign.gguf");
        new GgufWriter().putString("general.architecture", "llama").putString("general.type", "adapter")
                .putString("adapter.type", "lora").putFloat32("adapter.lora.alpha", 0f)
                .addTensor("blk.1.attn_v.weight.lora_a", new long[] {16, 2}, a)
                .addTensor("blk.1.attn_v.weight.lora_b", new long[] {2, 8}, b).write(file);
        var warnings = new java.util.ArrayList<String>();
        var set = LoraGguf.read(file, model, warnings::add);
        var v = (LoraAdapter) set.get(1, Target.V);
        assertEquals(1f, v.scale());
        assertArrayEquals(b, v.loraB().value());
        assertEquals(1, warnings.size()); // layer 0 has no attn_v adapter

        // convert_lora_to_gguf.py --outtype q8_0: block-quantized factors are dequantized on load (C = 32 here)
        LlamaModel wide = AdapterFixtures.model(true, 32);
        float[] a32 = new float[2 * 32];
        for (int i = 0; i < a32.length; i++) {
            a32[i] = (float) Math.sin(i);
        }
        Path q8 = tmp.resolve("q8.gguf");
        long rb = QuantType.Q8_0.rowBytes(32);
        var seg = java.lang.foreign.MemorySegment.ofArray(new byte[(int) rb * 2]);
        QuantType.Q8_0.format().quantizeRowRef(a32, 0, seg, 0, 32);
        QuantType.Q8_0.format().quantizeRowRef(a32, 32, seg, rb, 32);
        float[] refA = new float[64];
        var qa = QuantType.Q8_0.quantize(a32, 2, 32);
        for (int r = 0; r < 2; r++) {
            qa.dequantizeRow(r, refA, r * 32);
        }
        new GgufWriter().putString("general.architecture", "llama").putString("general.type", "adapter")
                .putString("adapter.type", "lora").putFloat32("adapter.lora.alpha", 4f)
                .addTensor("blk.0.attn_v.weight.lora_a", QuantType.Q8_0, new long[] {32, 2}, seg)
                .addTensor("blk.0.attn_v.weight.lora_b", new long[] {2, 16}, new float[32]).write(q8);
        var v0 = (LoraAdapter) LoraGguf.read(q8, wide, m -> {}).get(0, Target.V);
        assertArrayEquals(refA, v0.loraA().value());
        assertEquals(2f, v0.scale());
        assertTrue(Math.abs(refA[5] - a32[5]) < 0.02, "Q8_0 keeps values to ~1%");

        Path bad = tmp.resolve("bad.gguf");
        new GgufWriter().putString("general.architecture", "llama").putString("general.type", "adapter")
                .putString("adapter.type", "lora").putFloat32("adapter.lora.alpha", 4f)
                .addTensor("blk.1.attn_v.weight.lora_a", new long[] {2, 16}, a)
                .addTensor("blk.1.attn_v.weight.lora_b", new long[] {2, 8}, b).write(bad);
        var e = assertThrows(ModelFormatException.class, () -> LoraGguf.read(bad, model, m -> {}));
        assertTrue(e.getMessage().contains("bad.gguf") && e.getMessage().contains("blk.1.attn_v.weight.lora_a")
                && e.getMessage().contains("expected [16, r]"), e.getMessage());

        Path qwen = tmp.resolve("qwen.gguf");
        new GgufWriter().putString("general.architecture", "qwen2").putString("general.type", "adapter")
                .putString("adapter.type", "lora").putFloat32("adapter.lora.alpha", 4f)
                .addTensor("blk.1.attn_v.weight.lora_a", new long[] {16, 2}, a)
                .addTensor("blk.1.attn_v.weight.lora_b", new long[] {2, 8}, b).write(qwen);
        e = assertThrows(ModelFormatException.class, () -> LoraGguf.read(qwen, model, m -> {}));
        assertTrue(e.getMessage().contains("general.architecture") && e.getMessage().contains("qwen2"), e.getMessage());
    }

    @Test
    void adapterFilesDetectsEveryFormat() throws IOException {
        LlamaModel model = AdapterFixtures.model(true);
        var set = AdapterFixtures.randomLora(model, EnumSet.of(Target.O, Target.GATE), 2, 5f, false, 8);
        for (var fmt : AdapterFiles.Format.values()) {
            Path p = tmp.resolve("out-" + fmt + (fmt == AdapterFiles.Format.JLORA ? ".jlora" : fmt == AdapterFiles.Format.GGUF ? ".gguf" : ""));
            AdapterFiles.save(p, fmt, set, model.config(), "base");
            assertEquals(fmt, AdapterFiles.detect(p));
            var back = AdapterFiles.load(p, model, m -> {});
            for (Target t : set.targets()) {
                assertArrayEquals(AdapterFixtures.delta(set, 1, t), AdapterFixtures.delta(back, 1, t), fmt + " " + t);
            }
        }
        assertEquals("base", AdapterFile.readMeta(tmp.resolve("out-JLORA.jlora")).get("base_model"));
        var e = assertThrows(ModelFormatException.class, () -> AdapterFiles.detect(tmp));
        assertTrue(e.getMessage().contains("adapter_config.json"), e.getMessage());
    }
}
