package dev.jlora.loaders.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.quant.QuantType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Reads the real stories260K.gguf fixture (values per shared/models/README.md and its llama.cpp dump). */
class GgufReaderTest {

    static Path models() {
        return Path.of(System.getProperty("jlora.models", "../shared/models"));
    }

    static Path stories() {
        return models().resolve("stories260K.gguf");
    }

    @Test
    void readsStories260KHeaderAndMetadata() throws Exception {
        try (GgufFile f = GgufReader.open(stories())) {
            assertEquals(3, f.version());
            assertEquals(32, f.alignment());
            assertEquals(1_185_376, f.fileSize());
            assertEquals(19, f.metadata().size());
            assertEquals("llama", f.getString("general.architecture"));
            assertEquals(64, f.getInt("llama.embedding_length"));
            assertEquals(172, f.getInt("llama.feed_forward_length"));
            assertEquals(5, f.getInt("llama.block_count"));
            assertEquals(8, f.getInt("llama.attention.head_count"));
            assertEquals(4, f.getInt("llama.attention.head_count_kv"));
            assertEquals(2048, f.getInt("llama.context_length"));
            assertEquals(8, f.getInt("llama.rope.dimension_count"));
            assertEquals(1e-5f, f.getFloat("llama.attention.layer_norm_rms_epsilon"));
            assertFalse(f.has("llama.rope.freq_base"));
            assertEquals(10000f, f.getFloat("llama.rope.freq_base", 10000f));
            assertEquals("llama", f.getString("tokenizer.ggml.model"));
            assertEquals(1, f.getInt("tokenizer.ggml.bos_token_id"));
            assertEquals(2, f.getInt("tokenizer.ggml.eos_token_id"));
            assertEquals(0, f.getInt("tokenizer.ggml.unknown_token_id"));
            assertEquals(GgufType.UINT32, f.value("tokenizer.ggml.padding_token_id").type());
            assertEquals(0xFFFF_FFFFL, f.getLong("tokenizer.ggml.padding_token_id"));
            List<String> tokens = f.getStringArray("tokenizer.ggml.tokens");
            assertEquals(512, tokens.size());
            assertEquals(List.of("<unk>", "<s>", "</s>", "<0x00>"), tokens.subList(0, 4));
            assertEquals(512, f.getFloatArray("tokenizer.ggml.scores").length);
            int[] types = f.getIntArray("tokenizer.ggml.token_type");
            assertEquals(512, types.length);
            assertArrayEquals(new int[] {2, 3, 3, 6}, java.util.Arrays.copyOf(types, 4));
        }
    }

    @Test
    void typedGettersNameFileKeyAndExpectation() throws Exception {
        try (GgufFile f = GgufReader.open(stories())) {
            var e = assertThrows(ModelFormatException.class, () -> f.getInt("tokenizer.ggml.model"));
            assertEquals("stories260K.gguf: metadata 'tokenizer.ggml.model' must be an integer (UINT32, INT32, "
                    + "UINT64, …) but is STRING", e.getMessage());
            e = assertThrows(ModelFormatException.class, () -> f.getString("llama.block_count"));
            assertEquals("stories260K.gguf: metadata 'llama.block_count' must be STRING but is UINT32", e.getMessage());
            e = assertThrows(ModelFormatException.class, () -> f.getInt("llama.rope.freq_base"));
            assertEquals("stories260K.gguf: metadata 'llama.rope.freq_base' is missing (expected an integer (UINT32, "
                    + "INT32, UINT64, …))", e.getMessage());
            e = assertThrows(ModelFormatException.class, () -> f.getStringArray("tokenizer.ggml.scores"));
            assertEquals("stories260K.gguf: metadata 'tokenizer.ggml.scores' must be an array of STRING but is an "
                    + "array of FLOAT32", e.getMessage());
            e = assertThrows(ModelFormatException.class, () -> f.getInt("tokenizer.ggml.padding_token_id"));
            assertTrue(e.getMessage().contains("value 4294967295 does not fit in a 32-bit integer"), e.getMessage());
            e = assertThrows(ModelFormatException.class, () -> f.tensor("blk.9.attn_q.weight"));
            assertEquals("stories260K.gguf: tensor 'blk.9.attn_q.weight': is missing (the file has 48 tensors)",
                    e.getMessage());
            e = assertThrows(ModelFormatException.class, () -> f.requireShape("output.weight", 512, 64));
            assertEquals("stories260K.gguf: tensor 'output.weight': has shape [64, 512], expected [512, 64] "
                    + "(ggml order, contiguous first)", e.getMessage());
        }
    }

    @Test
    void tensorsAreMappedNotCopied() throws Exception {
        try (GgufFile f = GgufReader.open(stories())) {
            assertEquals(48, f.tensors().size());
            assertEquals(Map.of(QuantType.F32, 48), f.typeCounts());
            GgufTensorInfo emb = f.tensor("token_embd.weight");
            assertArrayEquals(new long[] {64, 512}, emb.shape());
            assertArrayEquals(new long[] {512, 64}, emb.rowMajorShape());
            assertEquals(0, emb.offset());
            assertArrayEquals(new long[] {64, 32}, f.tensor("blk.4.attn_k.weight").shape());
            assertArrayEquals(new long[] {172, 64}, f.tensor("blk.0.ffn_down.weight").shape());
            assertEquals(14_176, f.dataOffset());
            long bytes = 0;
            for (GgufTensorInfo t : f.tensors()) {
                bytes += t.byteSize();
                assertEquals(4 * t.elementCount(), t.byteSize(), t.name());
            }
            // The data section is exactly the tensors (all sizes are multiples of 32).
            assertEquals(f.fileSize() - f.dataOffset(), bytes);

            MemorySegment d = f.tensorData("output_norm.weight");
            assertTrue(d.isMapped(), "tensor data must be a mapping of the file");
            assertTrue(d.heapBase().isEmpty());
            assertTrue(d.isReadOnly());
            float[] norm = f.readFloats("output_norm.weight");
            assertEquals(64, norm.length);
            // The same bytes read independently from the file at dataOffset + offset.
            byte[] raw = Files.readAllBytes(stories());
            var buf = java.nio.ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
            long at = f.dataOffset() + f.tensor("output_norm.weight").offset();
            for (int i = 0; i < 64; i++) {
                assertEquals(buf.getFloat((int) at + 4 * i), norm[i], 0f, "output_norm[" + i + "]");
                assertEquals(norm[i], d.get(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4L * i));
            }
        }
    }

    @Test
    void closedFileRefusesAccessInsteadOfCrashing() throws Exception {
        GgufFile f = GgufReader.open(stories());
        MemorySegment d = f.tensorData("output.weight");
        f.close();
        assertThrows(IllegalStateException.class, () -> d.get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void readsEveryVocabOnlyFixture() throws Exception {
        record Want(String file, String model, int tokens) {}
        for (Want w : List.of(new Want("ggml-vocab-llama-spm.gguf", "llama", 32000),
                new Want("ggml-vocab-phi-3.gguf", "llama", 32064),
                new Want("ggml-vocab-llama-bpe.gguf", "gpt2", 128256),
                new Want("ggml-vocab-gpt-2.gguf", "gpt2", 50257),
                new Want("ggml-vocab-qwen2.gguf", "gpt2", 151936))) {
            try (GgufFile f = GgufReader.open(models().resolve("vocab").resolve(w.file()))) {
                assertEquals(0, f.tensors().size(), w.file());
                assertEquals(w.model(), f.getString("tokenizer.ggml.model"), w.file());
                assertEquals(w.tokens(), f.getStringArray("tokenizer.ggml.tokens").size(), w.file());
            }
        }
    }
}
