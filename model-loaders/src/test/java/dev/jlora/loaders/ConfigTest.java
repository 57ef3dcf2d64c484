package dev.jlora.loaders;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaConfig.RopeScaling;
import dev.jlora.loaders.gguf.GgufConfig;
import dev.jlora.loaders.gguf.GgufFile;
import dev.jlora.loaders.gguf.GgufReader;
import dev.jlora.loaders.gguf.GgufWriter;
import dev.jlora.loaders.hf.HfConfig;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** config.json and GGUF metadata → LlamaConfig, on configs as the model repositories publish them. */
class ConfigTest {

    private static final Path SRC = Path.of("config.json");

    private static LlamaConfig hf(String json) throws Exception {
        return HfConfig.parse(Json.parseObject(json, Json.Limits.DEFAULT, "config.json"), SRC);
    }

    @Test
    void tinyLlamaStyleLlamaWithGqa() throws Exception {
        LlamaConfig c = hf("""
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
                 "intermediate_size": 5632, "num_attention_heads": 32, "num_hidden_layers": 22,
                 "num_key_value_heads": 4, "max_position_embeddings": 2048, "rms_norm_eps": 1e-05,
                 "rope_scaling": null, "rope_theta": 10000.0, "tie_word_embeddings": false, "vocab_size": 32000,
                 "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu"}""");
        assertEquals(new LlamaConfig("llama", 2048, 5632, 22, 32, 4, 64, 32000, 2048, 1e-5f, 10000f,
                RopeScaling.NONE, false, false, false), c);
    }

    @Test
    void llama31WithLlama3RopeScaling() throws Exception {
        LlamaConfig c = hf("""
                {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
                 "num_hidden_layers": 32, "num_key_value_heads": 8, "max_position_embeddings": 131072,
                 "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "vocab_size": 128256, "attention_bias": false,
                 "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"}}""");
        assertEquals(new RopeScaling(RopeScaling.Type.LLAMA3, 8f, 8192, 1f, 4f), c.ropeScaling());
        assertEquals(500000f, c.ropeTheta());
        assertEquals(128, c.headDim());
    }

    @Test
    void mistralAndQwen2() throws Exception {
        LlamaConfig m = hf("""
                {"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
                 "num_hidden_layers": 32, "num_key_value_heads": 8, "max_position_embeddings": 32768,
                 "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "sliding_window": null, "vocab_size": 32768,
                 "head_dim": 128, "tie_word_embeddings": false}""");
        assertEquals(new LlamaConfig("mistral", 4096, 14336, 32, 32, 8, 128, 32768, 32768, 1e-5f, 1e6f,
                RopeScaling.NONE, false, false, false), m);
        LlamaConfig q = hf("""
                {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_attention_heads": 14,
                 "num_hidden_layers": 24, "num_key_value_heads": 2, "max_position_embeddings": 32768,
                 "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "tie_word_embeddings": true, "vocab_size": 151936,
                 "use_sliding_window": false, "rope_scaling": {"type": "yarn", "factor": 4.0,
                 "original_max_position_embeddings": 32768}}""");
        assertEquals(new LlamaConfig("qwen2", 896, 4864, 24, 14, 2, 64, 151936, 32768, 1e-6f, 1e6f,
                new RopeScaling(RopeScaling.Type.YARN, 4f, 32768, 1f, 32f), false, true, true), q);
        LlamaConfig lin = hf("""
                {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
                 "num_hidden_layers": 1, "vocab_size": 10, "rope_scaling": {"type": "linear", "factor": 2.0}}""");
        assertEquals(new RopeScaling(RopeScaling.Type.LINEAR, 2f, 0, 0f, 0f), lin.ropeScaling());
        assertEquals(4, lin.nKvHeads());
        assertEquals(1e-6f, lin.rmsEps());
    }

    @Test
    void badConfigsNameTheField() {
        var e = assertThrows(ModelFormatException.class, () -> hf("{\"model_type\": \"llama\", \"hidden_size\": 64}"));
        assertEquals("config.json: field 'intermediate_size': is missing (expected an integer)", e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> hf("""
                {"model_type": "llama", "hidden_size": "64", "intermediate_size": 1}"""));
        assertEquals("config.json: field 'hidden_size': must be a 32-bit integer, found string 64", e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> hf("""
                {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
                 "num_hidden_layers": 1, "vocab_size": 10, "num_key_value_heads": 3}"""));
        assertTrue(e.getMessage().startsWith("config.json: head count 4 must be a multiple of kv head count 3"),
                e.getMessage());
        var u = assertThrows(UnsupportedOperationException.class, () -> hf("{\"model_type\": \"gpt2\"}"));
        assertTrue(u.getMessage().contains("model_type 'gpt2' is not supported"));
        u = assertThrows(UnsupportedOperationException.class, () -> hf("""
                {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
                 "num_hidden_layers": 1, "vocab_size": 10, "rope_scaling": {"rope_type": "dynamic", "factor": 2}}"""));
        assertTrue(u.getMessage().contains("rope scaling type 'dynamic' is not supported"));
    }

    @Test
    void hfConfigRoundTrips() throws Exception {
        LlamaConfig c = new LlamaConfig("llama", 64, 172, 5, 8, 4, 8, 512, 2048, 1e-5f, 10000f,
                new RopeScaling(RopeScaling.Type.LLAMA3, 8f, 8192, 1f, 4f), false, true, false);
        Map<String, Object> json = HfConfig.toJson(c, 1, 2);
        assertEquals(c, hf(Json.writePretty(json)));
        assertEquals(1L, Json.parseObject(Json.write(json), Json.Limits.DEFAULT, null).get("bos_token_id"));
    }

    @Test
    void stories260KFromGgufMetadata() throws Exception {
        try (GgufFile f = GgufReader.open(Path.of(System.getProperty("jlora.models", "../shared/models"), "stories260K.gguf"))) {
            // Values per shared/models/README.md.
            assertEquals(new LlamaConfig("llama", 64, 172, 5, 8, 4, 8, 512, 2048, 1e-5f, 10000f, RopeScaling.NONE,
                    true, false, false), GgufConfig.read(f));
        }
    }

    @Test
    void ggufConfigRoundTripsForEveryArch(@TempDir Path dir) throws Exception {
        for (LlamaConfig c : new LlamaConfig[] {
                new LlamaConfig("llama", 64, 96, 2, 4, 2, 16, 300, 4096, 1e-6f, 500000f,
                        new RopeScaling(RopeScaling.Type.LINEAR, 2f, 0, 0f, 0f), true, true, false),
                new LlamaConfig("qwen2", 64, 96, 2, 4, 4, 8, 300, 32768, 1e-6f, 1e6f,
                        new RopeScaling(RopeScaling.Type.YARN, 4f, 32768, 1f, 32f), false, true, true)}) {
            GgufWriter w = new GgufWriter();
            GgufConfig.write(c, w);
            if (c.attentionBias()) {
                w.addTensor("blk.0.attn_q.bias", new long[] {c.qDim()}, new float[c.qDim()]);
            }
            Path p = dir.resolve(c.architecture() + ".gguf");
            w.write(p);
            try (GgufFile f = GgufReader.open(p)) {
                assertEquals(c, GgufConfig.read(f));
            }
        }
    }

    @Test
    void vocabOnlyGgufsGiveTheirDeclaredShapes() throws Exception {
        Path vocab = Path.of(System.getProperty("jlora.models", "../shared/models"), "vocab");
        try (GgufFile f = GgufReader.open(vocab.resolve("ggml-vocab-qwen2.gguf"))) {
            LlamaConfig c = GgufConfig.read(f);
            assertEquals(151936, c.vocabSize()); // from the tokenizer: the file has no qwen2.vocab_size
            assertEquals(1e6f, c.ropeTheta());
            assertFalse(c.ropeInterleaved());
        }
        try (GgufFile f = GgufReader.open(vocab.resolve("ggml-vocab-llama-bpe.gguf"))) {
            LlamaConfig c = GgufConfig.read(f);
            assertEquals(8, c.nKvHeads());
            assertEquals(128256, c.vocabSize());
            assertTrue(c.ropeInterleaved());
        }
        try (GgufFile f = GgufReader.open(vocab.resolve("ggml-vocab-gpt-2.gguf"))) {
            assertTrue(assertThrows(UnsupportedOperationException.class, () -> GgufConfig.read(f)).getMessage()
                    .contains("general.architecture 'gpt2' is not supported"));
        }
    }

    private static final String SMALL = """
            "model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
            "num_hidden_layers": 1, "vocab_size": 10, "max_position_embeddings": 8192, """;

    /** YaRN's attention factor as transformers' _compute_yarn_parameters picks it: explicit, mscale ratio, default. */
    @Test
    void yarnAttentionFactorFollowsTransformers() throws Exception {
        RopeScaling explicit = hf("{" + SMALL + """
                "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 2048,
                  "beta_fast": 16, "beta_slow": 2, "attention_factor": 1.25}}""").ropeScaling();
        assertEquals(RopeScaling.yarn(4f, 2048, 16f, 2f, 1.25f), explicit);
        RopeScaling ratio = hf("{" + SMALL + """
                "rope_scaling": {"rope_type": "yarn", "factor": 40, "mscale": 0.707, "mscale_all_dim": 0.707}}""")
                .ropeScaling();
        assertEquals(1f, ratio.attentionFactor(), 0f, "equal mscale and mscale_all_dim cancel (DeepSeek-V2)");
        assertEquals(8192, ratio.originalContextLength(), "defaults to max_position_embeddings");
        RopeScaling plain = hf("{" + SMALL + "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}}")
                .ropeScaling();
        assertEquals(0.1 * Math.log(4) + 1, plain.attentionFactor(), 1e-7, "YaRN §3.4 default");
        assertEquals(32f, plain.betaFast());
        assertEquals(1f, plain.betaSlow());
    }

    @Test
    void badRopeScalingValuesNameTheField() {
        String[][] cases = {
                {"{\"rope_type\": \"yarn\", \"factor\": 0}", "field 'rope_scaling.factor': must be a positive number, got 0.0"},
                {"{\"rope_type\": \"yarn\", \"factor\": 4, \"beta_fast\": 1, \"beta_slow\": 2}",
                        "field 'rope_scaling.beta_fast': must be greater than beta_slow (2.0), got 1.0"},
                {"{\"rope_type\": \"yarn\", \"factor\": 4, \"attention_factor\": -1}",
                        "field 'rope_scaling.attention_factor': must be a positive number, got -1.0"},
                {"{\"rope_type\": \"yarn\", \"factor\": 4, \"original_max_position_embeddings\": 0}",
                        "field 'rope_scaling.original_max_position_embeddings': must be positive, got 0"},
                {"{\"rope_type\": \"llama3\", \"factor\": 8}",
                        "field 'rope_scaling.original_max_position_embeddings': is missing (expected an integer)"},
                {"{\"rope_type\": \"llama3\", \"factor\": 8, \"original_max_position_embeddings\": 8192, "
                        + "\"low_freq_factor\": 4, \"high_freq_factor\": 1}",
                        "field 'rope_scaling.high_freq_factor': must be greater than low_freq_factor (4.0), got 1.0"}};
        for (String[] c : cases) {
            var e = assertThrows(ModelFormatException.class, () -> hf("{" + SMALL + "\"rope_scaling\": " + c[0] + "}"));
            assertEquals("config.json: " + c[1], e.getMessage(), c[0]);
        }
        var u = assertThrows(UnsupportedOperationException.class, () -> hf("{" + SMALL
                + "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4, \"truncate\": false}}"));
        assertTrue(u.getMessage().contains("rope_scaling.truncate false"), u.getMessage());
    }

    /**
     * YaRN with a non-default attention factor and betas through llama.cpp's keys, and Llama 3.1's scaling through
     * the rope_freqs.weight tensor (read back as its per-pair divisors, which give the same frequencies).
     */
    @Test
    void ggufRopeScalingRoundTrips(@TempDir Path dir) throws Exception {
        LlamaConfig yarn = new LlamaConfig("llama", 64, 96, 2, 4, 2, 16, 300, 16384, 1e-6f, 10000f,
                RopeScaling.yarn(4f, 4096, 24f, 2f, 1.3f), true, true, false);
        Path p = dir.resolve("yarn.gguf");
        GgufWriter w = new GgufWriter();
        GgufConfig.write(yarn, w);
        w.write(p);
        try (GgufFile f = GgufReader.open(p)) {
            LlamaConfig back = GgufConfig.read(f);
            assertEquals(yarn.ropeScaling().betaFast(), back.ropeScaling().betaFast());
            assertEquals(yarn.ropeScaling().originalContextLength(), back.ropeScaling().originalContextLength());
            // attn_factor is stored relative to get_mscale(s), in float: a few ulp
            assertEquals(1.3f, back.ropeScaling().attentionFactor(), 1e-6f);
            assertEquals(1.3f / RopeScaling.yarnMscale(4, 1), f.getFloat("llama.rope.scaling.attn_factor"), 1e-6f);
        }
        LlamaConfig llama3 = new LlamaConfig("llama", 64, 96, 2, 4, 2, 16, 300, 16384, 1e-6f, 500000f,
                new RopeScaling(RopeScaling.Type.LLAMA3, 8f, 64, 1f, 4f), true, true, false);
        float[] factors = GgufConfig.ropeFrequencyFactors(llama3);
        p = dir.resolve("llama3.gguf");
        w = new GgufWriter();
        GgufConfig.write(llama3, w);
        w.addTensor(TensorNames.GGUF_ROPE_FREQS, new long[] {factors.length}, factors);
        w.write(p);
        try (GgufFile f = GgufReader.open(p)) {
            assertEquals(RopeScaling.frequencyFactors(factors), GgufConfig.read(f).ropeScaling());
        }
        factors[3] = -1f;
        p = dir.resolve("bad.gguf");
        w = new GgufWriter();
        GgufConfig.write(llama3, w);
        w.addTensor(TensorNames.GGUF_ROPE_FREQS, new long[] {factors.length}, factors);
        w.write(p);
        try (GgufFile f = GgufReader.open(p)) {
            var e = assertThrows(ModelFormatException.class, () -> GgufConfig.read(f));
            assertEquals("bad.gguf: tensor 'rope_freqs.weight': factor 3 is -1.0; every factor must be a positive number",
                    e.getMessage());
        }
        p = dir.resolve("badyarn.gguf");
        w = new GgufWriter();
        GgufConfig.write(yarn, w);
        w.putFloat32("llama.rope.scaling.yarn_beta_slow", 30f);
        w.write(p);
        try (GgufFile f = GgufReader.open(p)) {
            var e = assertThrows(ModelFormatException.class, () -> GgufConfig.read(f));
            assertEquals("badyarn.gguf: field 'llama.rope.scaling.yarn_beta_fast': YaRN needs beta_fast > beta_slow > 0, "
                    + "got beta_fast 24.0 and llama.rope.scaling.yarn_beta_slow 30.0", e.getMessage());
        }
    }
}
