package dev.jlora.loaders.adapter;

import static dev.jlora.simd.testing.Approx.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.DoraAdapter;
import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.io.AtomicFile;
import dev.jlora.loaders.safetensors.SafetensorsDtype;
import dev.jlora.loaders.safetensors.SafetensorsFile;
import dev.jlora.loaders.safetensors.SafetensorsReader;
import dev.jlora.loaders.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class PeftAdapterTest {
    @TempDir
    Path tmp;

    static final EnumSet<Target> ALL = EnumSet.allOf(Target.class);

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void roundTripGivesTheSameDeltaW(boolean ggufBase) throws IOException {
        LlamaModel model = AdapterFixtures.model(ggufBase);
        var set = AdapterFixtures.randomLora(model, ALL, 3, 6f, false, 5);
        Path dir = tmp.resolve("peft");
        PeftAdapter.write(dir, set, model.config(), "stories260K");
        var warnings = new ArrayList<String>();
        TrainableAdapterSet back = PeftAdapter.read(dir, model, warnings::add);
        assertEquals(List.of(), warnings);
        for (int l = 0; l < 2; l++) {
            for (Target t : ALL) {
                // values are copied, not recomputed: exact
                assertArrayEquals(AdapterFixtures.delta(set, l, t), AdapterFixtures.delta(back, l, t), "layer " + l + " " + t);
            }
        }
        var b = (LoraAdapter) back.get(0, Target.Q);
        assertEquals(3, b.rank());
        assertEquals(2f, b.scale());
    }

    @Test
    void configAndKeysAreThoseOfPeft() throws IOException {
        LlamaModel model = AdapterFixtures.model(false);
        var set = AdapterFixtures.randomLora(model, EnumSet.of(Target.Q, Target.V, Target.DOWN), 4, 8f, true, 3);
        Path dir = tmp.resolve("peft");
        PeftAdapter.write(dir, set, model.config(), "org/base");
        Map<String, Object> c = Json.readObject(dir.resolve("adapter_config.json"));
        assertEquals("LORA", c.get("peft_type"));
        assertEquals(4L, c.get("r"));
        assertEquals(8L, c.get("lora_alpha"));
        assertEquals(true, c.get("use_rslora"));
        assertEquals("none", c.get("bias"));
        assertEquals("CAUSAL_LM", c.get("task_type"));
        assertEquals(false, c.get("fan_in_fan_out"));
        assertEquals("org/base", c.get("base_model_name_or_path"));
        assertEquals(List.of("q_proj", "v_proj", "down_proj"), c.get("target_modules"));
        try (SafetensorsFile f = SafetensorsReader.open(dir.resolve("adapter_model.safetensors"))) {
            assertEquals(12, f.tensors().size());
            f.requireShape("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", 4, 16);
            f.requireShape("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight", 8, 4);
            f.requireShape("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight", 4, 24);
            f.requireShape("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight", 16, 4);
        }
        // no temporary files left behind
        try (var s = Files.list(dir)) {
            assertEquals(2, s.count());
        }
    }

    /**
     * A GGUF base keeps Q/K rows llama.cpp-permuted; the PEFT file must hold the Hugging Face basis: the ΔW built
     * from the file's tensors, with its rows permuted back by the converter's rule, is the model's ΔW.
     */
    @Test
    void ggufBaseIsUnpermutedOnExport() throws IOException {
        LlamaModel model = AdapterFixtures.model(true);
        var set = AdapterFixtures.randomLora(model, EnumSet.of(Target.Q, Target.K, Target.V), 2, 4f, false, 9);
        Path dir = tmp.resolve("peft");
        PeftAdapter.write(dir, set, model.config(), "x");
        try (SafetensorsFile f = SafetensorsReader.open(dir.resolve("adapter_model.safetensors"))) {
            for (Target t : List.of(Target.Q, Target.K, Target.V)) {
                String p = "base_model.model.model.layers.1.self_attn." + t.hfName();
                float[] a = f.readFloats(p + ".lora_A.weight"), b = f.readFloats(p + ".lora_B.weight");
                int OC = b.length / 2;
                float[] dHf = new float[OC * 16];
                for (int o = 0; o < OC; o++) {
                    for (int i = 0; i < 16; i++) {
                        double s = 0;
                        for (int j = 0; j < 2; j++) {
                            s += (double) b[o * 2 + j] * a[j * 16 + i];
                        }
                        dHf[o * 16 + i] = (float) (2.0 * s);
                    }
                }
                float[] want = AdapterFixtures.delta(set, 1, t);
                // GGUF row h·hs + 2i + j is HF row h·hs + j·hs/2 + i (convert_hf_to_gguf.py LlamaModel.permute), hs = 4
                float[] dGguf = new float[dHf.length];
                for (int g = 0; g < OC; g++) {
                    int h = g / 4, k = g % 4, hfRow = h * 4 + (k % 2) * 2 + k / 2;
                    int from = t == Target.V ? g : hfRow;
                    System.arraycopy(dHf, from * 16, dGguf, g * 16, 16);
                }
                // float rounding of one r=2 dot product, scaled
                assertClose(want, dGguf, 1e-6, 1e-6, () -> t.hfName());
                if (t != Target.V) {
                    assertFalse(java.util.Arrays.equals(b, ((LoraAdapter) set.get(1, t)).loraB().value()),
                            t + ": B must be permuted");
                }
            }
        }
    }

    /** DoRA (use_dora, lora_magnitude_vector [OC]): W' = m ⊙ (W + s·B·A)/‖·‖ survives the round trip, both bases. */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void doraRoundTripGivesTheSameMergedWeight(boolean ggufBase) throws IOException {
        LlamaModel model = AdapterFixtures.model(ggufBase);
        var cfg = new dev.jlora.engine.adapter.LoraConfig(2, 4f, 0f, false, EnumSet.of(Target.Q, Target.K, Target.UP));
        var init = dev.jlora.engine.adapter.AdapterInit.parse("kaiming");
        var set = TrainableAdapterSet.create(model.weights(), cfg.targets(),
                (l, t, base, rnd) -> DoraAdapter.create(base, cfg, init, rnd), 3);
        var rnd = new java.util.SplittableRandom(4);
        for (var a : set.adapters()) {
            for (var p : a.parameters()) {
                float[] v = p.value();
                for (int i = 0; i < v.length; i++) {
                    v[i] += (float) (rnd.nextDouble() - 0.5);
                }
            }
        }
        Path dir = tmp.resolve("dora");
        PeftAdapter.write(dir, set, model.config(), "x");
        assertEquals(true, Json.readObject(dir.resolve("adapter_config.json")).get("use_dora"));
        try (SafetensorsFile f = SafetensorsReader.open(dir.resolve("adapter_model.safetensors"))) {
            f.requireShape("base_model.model.model.layers.1.self_attn.k_proj.lora_magnitude_vector", 8);
        }
        var back = PeftAdapter.read(dir, model, m -> {});
        for (int l = 0; l < 2; l++) {
            for (Target t : set.targets()) {
                var base = TrainableAdapterSet.baseWeight(model.weights().layers().get(l), t);
                float[] w1 = new float[base.rows() * base.cols()];
                for (int r = 0; r < base.rows(); r++) {
                    base.dequantizeRow(r, w1, r * base.cols());
                }
                float[] w2 = w1.clone();
                set.get(l, t).mergeInto(w1);
                back.get(l, t).mergeInto(w2);
                assertArrayEquals(w1, w2, "layer " + l + " " + t);
                assertEquals("dora", back.get(l, t).method());
            }
        }
        var e = assertThrows(UnsupportedOperationException.class, () -> LoraGguf.write(tmp.resolve("d.gguf"), set, model.config()));
        assertTrue(e.getMessage().contains("dora") && e.getMessage().contains("jlora merge"), e.getMessage());
    }

    @Test
    void readsPeftKeysWithAdapterNameF16AndPatternsAndWarnsOnUnknownFields() throws IOException {
        LlamaModel model = AdapterFixtures.model(false);
        Path dir = tmp.resolve("unsloth");
        var st = new SafetensorsWriter();
        float[] a = seq(2 * 16, 0.01f), b = seq(16 * 2, -0.02f), a3 = seq(3 * 16, 0.03f), b3 = seq(8 * 3, 0.05f);
        for (int l = 0; l < 2; l++) {
            st.add("base_model.model.model.layers." + l + ".self_attn.q_proj.lora_A.default.weight", SafetensorsDtype.F16, new long[] {2, 16}, a);
            st.add("base_model.model.model.layers." + l + ".self_attn.q_proj.lora_B.default.weight", SafetensorsDtype.F16, new long[] {16, 2}, b);
            st.add("base_model.model.model.layers." + l + ".self_attn.v_proj.lora_A.default.weight", new long[] {3, 16}, a3);
            st.add("base_model.model.model.layers." + l + ".self_attn.v_proj.lora_B.default.weight", new long[] {8, 3}, b3);
        }
        st.write(dir.resolve("adapter_model.safetensors"));
        AtomicFile.writeString(dir.resolve("adapter_config.json"), """
                {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "v_proj"],
                 "rank_pattern": {"v_proj": 3}, "alpha_pattern": {"v_proj": 9.0}, "lora_dropout": 0.1,
                 "task_type": "CAUSAL_LM", "some_future_field": {"x": 1}, "use_rslora": false}""");
        var warnings = new ArrayList<String>();
        var set = PeftAdapter.read(dir, model, warnings::add);
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.getFirst().contains("some_future_field"), warnings.getFirst());
        var q = (LoraAdapter) set.get(1, Target.Q);
        assertEquals(2f, q.scale());
        // F16 storage: the values are those rounded to fp16
        assertEquals(Float.float16ToFloat(Float.floatToFloat16(a[5])), q.loraA().value()[5]);
        var v = (LoraAdapter) set.get(0, Target.V);
        assertEquals(3, v.rank());
        assertEquals(3f, v.scale());
        assertArrayEquals(b3, v.loraB().value());
        assertEquals(EnumSet.of(Target.Q, Target.V), set.targets());
    }

    /** MLX-LM: lora_a [IC × r], lora_b [r × OC] (transposed), y += scale·(x·a)·b. */
    @Test
    void readsMlxAdapters() throws IOException {
        LlamaModel model = AdapterFixtures.model(false);
        Path dir = tmp.resolve("mlx");
        var st = new SafetensorsWriter();
        float[] a = seq(16 * 2, 0.01f), b = seq(2 * 8, 0.07f);
        for (int l = 0; l < 2; l++) {
            st.add("model.layers." + l + ".self_attn.k_proj.lora_a", new long[] {16, 2}, a);
            st.add("model.layers." + l + ".self_attn.k_proj.lora_b", new long[] {2, 8}, b);
        }
        st.write(dir.resolve("adapters.safetensors"));
        AtomicFile.writeString(dir.resolve("adapter_config.json"), """
                {"fine_tune_type": "lora", "num_layers": 2,
                 "lora_parameters": {"rank": 2, "scale": 10.0, "dropout": 0.0, "keys": ["self_attn.k_proj"]}}""");
        var set = PeftAdapter.read(dir, model, msg -> {});
        var k = (LoraAdapter) set.get(1, Target.K);
        assertEquals(10f, k.scale(), 1e-6);
        // A[j][i] = a[i][j]
        assertEquals(a[5 * 2 + 1], k.loraA().value()[16 + 5]);
        assertEquals(b[1 * 8 + 6], k.loraB().value()[6 * 2 + 1]);
    }

    @Test
    void errorsNameFileKeyAndExpectation() throws IOException {
        LlamaModel model = AdapterFixtures.model(false);
        Path dir = tmp.resolve("bad");
        var st = new SafetensorsWriter();
        st.add("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", new long[] {2, 15}, new float[30]);
        st.add("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", new long[] {16, 2}, new float[32]);
        st.write(dir.resolve("adapter_model.safetensors"));
        AtomicFile.writeString(dir.resolve("adapter_config.json"), "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 2}");
        var e = assertThrows(ModelFormatException.class, () -> PeftAdapter.read(dir, model, m -> {}));
        assertTrue(e.getMessage().contains("adapter_model.safetensors"), e.getMessage());
        assertTrue(e.getMessage().contains("layers.0.self_attn.q_proj.lora_A.weight"), e.getMessage());
        assertTrue(e.getMessage().contains("expected [r, IC]") && e.getMessage().contains("IC=16"), e.getMessage());

        var st2 = new SafetensorsWriter();
        st2.add("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", new long[] {2, 16}, new float[32]);
        st2.write(dir.resolve("adapter_model.safetensors"));
        e = assertThrows(ModelFormatException.class, () -> PeftAdapter.read(dir, model, m -> {}));
        assertTrue(e.getMessage().contains("no matching lora_B"), e.getMessage());

        var st3 = new SafetensorsWriter();
        st3.add("base_model.model.lm_head.lora_A.weight", new long[] {2, 16}, new float[32]);
        st3.write(dir.resolve("adapter_model.safetensors"));
        e = assertThrows(ModelFormatException.class, () -> PeftAdapter.read(dir, model, m -> {}));
        assertTrue(e.getMessage().contains("'base_model.model.lm_head.lora_A.weight'"), e.getMessage());

        AtomicFile.writeString(dir.resolve("adapter_config.json"), "{\"peft_type\": \"PREFIX_TUNING\"}");
        e = assertThrows(ModelFormatException.class, () -> PeftAdapter.read(dir, model, m -> {}));
        assertTrue(e.getMessage().contains("adapter_config.json") && e.getMessage().contains("peft_type"), e.getMessage());

        Path ok = tmp.resolve("ok");
        PeftAdapter.write(ok, AdapterFixtures.randomLora(model, EnumSet.of(Target.Q), 2, 2f, false, 1), model.config(), "b");
        AtomicFile.writeString(ok.resolve("adapter_config.json"),
                "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 2, \"target_modules\": [\"q_proj\", \"o_proj\"]}");
        e = assertThrows(ModelFormatException.class, () -> PeftAdapter.read(ok, model, m -> {}));
        assertTrue(e.getMessage().contains("target module 'o_proj' matches no tensor in adapter_model.safetensors"),
                e.getMessage());
    }

    /** Hostile or broken configs and files fail with a message naming the file and the field, never a crash. */
    @Test
    void brokenConfigsAndTruncatedWeightsGiveClearErrors() throws IOException {
        LlamaModel model = AdapterFixtures.model(false);
        Path ok = tmp.resolve("ok");
        PeftAdapter.write(ok, AdapterFixtures.randomLora(model, EnumSet.of(Target.Q), 2, 2f, false, 1), model.config(), "b");
        Path cfg = ok.resolve("adapter_config.json");
        AtomicFile.writeString(cfg, "{\"peft_type\": \"LORA\", \"r\": \"eight\"}");
        var e = assertThrows(ModelFormatException.class, () -> PeftAdapter.read(ok, model, m -> {}));
        assertTrue(e.getMessage().contains("adapter_config.json") && e.getMessage().contains("'r'")
                && e.getMessage().contains("expected a number"), e.getMessage());
        AtomicFile.writeString(cfg, "{\"peft_type\": \"LORA\", \"r\": 2,");
        var io = assertThrows(IOException.class, () -> PeftAdapter.read(ok, model, m -> {}));
        assertTrue(io.getMessage().contains("adapter_config.json"), io.getMessage());
        AtomicFile.writeString(cfg, "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 2, \"bias\": \"all\"}");
        var u = assertThrows(UnsupportedOperationException.class, () -> PeftAdapter.read(ok, model, m -> {}));
        assertTrue(u.getMessage().contains("bias \"all\""), u.getMessage());
        AtomicFile.writeString(cfg, "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 2}");
        Path w = ok.resolve("adapter_model.safetensors");
        byte[] bytes = Files.readAllBytes(w);
        Files.write(w, java.util.Arrays.copyOf(bytes, bytes.length - 10));
        io = assertThrows(IOException.class, () -> PeftAdapter.read(ok, model, m -> {}));
        assertTrue(io.getMessage().contains("adapter_model.safetensors"), io.getMessage());
    }

    private static float[] seq(int n, float step) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = step * (i % 13 - 6);
        }
        return x;
    }
}
