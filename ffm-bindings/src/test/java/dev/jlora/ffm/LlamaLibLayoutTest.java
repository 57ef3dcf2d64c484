package dev.jlora.ffm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.StructLayout;
import org.junit.jupiter.api.Test;

/**
 * The struct layouts of {@link LlamaLib} against the C compiler: the sizes and offsets below are what gcc 12 printed
 * (sizeof / offsetof) for llama.h and ggml.h of llama.cpp v0.5.0 ({@code node-llama-cpp@3.22.1},
 * {@code llama/gitRelease.bundle}) on x86-64 Linux.
 */
class LlamaLibLayoutTest {
    @Test
    void modelParamsMatchTheHeader() {
        assertEquals(80, LlamaLib.MODEL_PARAMS.byteSize());
        check(LlamaLib.MODEL_PARAMS, "n_gpu_layers", 16);
        check(LlamaLib.MODEL_PARAMS, "split_mode", 20);
        check(LlamaLib.MODEL_PARAMS, "load_mode", 24);
        check(LlamaLib.MODEL_PARAMS, "lazy_mode", 28);
        check(LlamaLib.MODEL_PARAMS, "main_gpu", 32);
        check(LlamaLib.MODEL_PARAMS, "tensor_split", 40);
        check(LlamaLib.MODEL_PARAMS, "kv_overrides", 64);
        check(LlamaLib.MODEL_PARAMS, "vocab_only", 72);
        check(LlamaLib.MODEL_PARAMS, "load_mtp", 77);
    }

    @Test
    void contextParamsMatchTheHeader() {
        assertEquals(160, LlamaLib.CONTEXT_PARAMS.byteSize());
        check(LlamaLib.CONTEXT_PARAMS, "n_ctx", 0);
        check(LlamaLib.CONTEXT_PARAMS, "n_batch", 4);
        check(LlamaLib.CONTEXT_PARAMS, "n_ubatch", 8);
        check(LlamaLib.CONTEXT_PARAMS, "n_seq_max", 12);
        check(LlamaLib.CONTEXT_PARAMS, "n_threads", 28);
        check(LlamaLib.CONTEXT_PARAMS, "n_threads_batch", 32);
        check(LlamaLib.CONTEXT_PARAMS, "flash_attn_type", 52);
        check(LlamaLib.CONTEXT_PARAMS, "rope_freq_base", 56);
        check(LlamaLib.CONTEXT_PARAMS, "yarn_ext_factor", 64);
        check(LlamaLib.CONTEXT_PARAMS, "defrag_thold", 84);
        check(LlamaLib.CONTEXT_PARAMS, "cb_eval", 88);
        check(LlamaLib.CONTEXT_PARAMS, "type_k", 104);
        check(LlamaLib.CONTEXT_PARAMS, "type_v", 108);
        check(LlamaLib.CONTEXT_PARAMS, "abort_callback", 112);
        check(LlamaLib.CONTEXT_PARAMS, "embeddings", 128);
        check(LlamaLib.CONTEXT_PARAMS, "kv_unified", 133);
        check(LlamaLib.CONTEXT_PARAMS, "samplers", 136);
        check(LlamaLib.CONTEXT_PARAMS, "n_samplers", 144);
        check(LlamaLib.CONTEXT_PARAMS, "ctx_other", 152);
    }

    @Test
    void batchMatchesTheHeader() {
        assertEquals(56, LlamaLib.BATCH.byteSize());
        check(LlamaLib.BATCH, "token", 8);
        check(LlamaLib.BATCH, "logits", 48);
    }

    private static void check(StructLayout s, String field, long offset) {
        assertEquals(offset, LlamaLib.off(s, field), s.name().orElse("?") + "." + field);
    }
}
