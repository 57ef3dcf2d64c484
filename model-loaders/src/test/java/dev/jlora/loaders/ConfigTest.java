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
}
