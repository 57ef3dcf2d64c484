package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.tokenizer.Tokenizer;
import dev.jlora.loaders.gguf.GgufFile;
import dev.jlora.loaders.gguf.GgufReader;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hugging Face tokenizer.json. No real tokenizer.json is stored here, so the tests write one the way the
 * {@code tokenizers} library serializes these models (vocab, merges, added_tokens, the family's
 * pre_tokenizer) from the vocab-only GGUFs, and require llama.cpp's ids on its 46 test texts.
 */
class HfTokenizerReaderTest {
    private static final String LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    @TempDir
    Path dir;

    /** Slow: writes and parses tokenizer.json files of up to 152k tokens and 150k merges (a few seconds each). */
    @Tag("slow")
    @ParameterizedTest
    @CsvSource({"ggml-vocab-gpt-2.gguf, gpt2, strings", "ggml-vocab-llama-bpe.gguf, llama3, pairs",
            "ggml-vocab-qwen2.gguf, qwen2, pairs"})
    void tokenizerJsonMatchesLlamaCppCases(String vocab, String family, String mergeForm) throws IOException {
        try (GgufFile gguf = GgufReader.open(TokenizerFixtures.VOCAB.resolve(vocab))) {
            writeTokenizerJson(gguf, family, mergeForm.equals("pairs"));
        }
        Tokenizer tok = Tokenizers.fromHfDirectory(dir);
        List<String> texts = TokenizerFixtures.testTexts(TokenizerFixtures.VOCAB.resolve(vocab + ".inp"));
        List<int[]> expected = TokenizerFixtures.expectedIds(TokenizerFixtures.VOCAB.resolve(vocab + ".out"));
        for (int i = 0; i < texts.size(); i++) {
            assertArrayEquals(expected.get(i), tok.encode(texts.get(i), false, false),
                    vocab + " case " + i + " " + VocabTestCasesTest.escape(texts.get(i)));
        }
        Tokenizer gguf = TokenizerFixtures.gguf(vocab);
        assertEquals(gguf.vocabSize(), tok.vocabSize());
        assertEquals(gguf.chatTemplate().name(), tok.chatTemplate().name());
        if (family.equals("llama3")) {
            assertEquals(gguf.bos(), tok.bos());
            assertArrayEquals(gguf.encode("Hello<|eot_id|>", true, true), tok.encode("Hello<|eot_id|>", true, true));
        }
    }

    private void writeTokenizerJson(GgufFile gguf, String family, boolean pairMerges) throws IOException {
        List<String> tokens = gguf.getStringArray("tokenizer.ggml.tokens");
        int[] types = gguf.getIntArray("tokenizer.ggml.token_type");
        Map<String, Object> vocab = new LinkedHashMap<>();
        List<Object> added = new ArrayList<>();
        for (int i = 0; i < tokens.size(); i++) {
            int t = types[i];
            if (t == Vocabulary.CONTROL || t == Vocabulary.USER_DEFINED) {
                added.add(Map.of("id", (long) i, "content", tokens.get(i), "special", t == Vocabulary.CONTROL));
            } else {
                vocab.put(tokens.get(i), (long) i);
            }
        }
        List<Object> merges = new ArrayList<>();
        for (String s : gguf.getStringArray("tokenizer.ggml.merges")) {
            int sp = s.indexOf(' ', 1);
            merges.add(pairMerges ? List.of(s.substring(0, sp), s.substring(sp + 1)) : s);
        }
        Object byteLevel = Map.of("type", "ByteLevel", "add_prefix_space", false, "use_regex", family.equals("gpt2"));
        Object pre = family.equals("gpt2") ? byteLevel : Map.of("type", "Sequence", "pretokenizers", List.of(
                Map.of("type", "Split", "pattern", Map.of("Regex", family.equals("llama3") ? LLAMA3_REGEX : QWEN2_REGEX),
                        "behavior", "Isolated", "invert", false), byteLevel));
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("added_tokens", added);
        root.put("normalizer", null);
        root.put("pre_tokenizer", pre);
        root.put("model", Map.of("type", "BPE", "vocab", vocab, "merges", merges, "ignore_merges", family.equals("llama3")));
        Files.writeString(dir.resolve("tokenizer.json"), Json.write(root));
        if (family.equals("llama3")) {
            Files.writeString(dir.resolve("tokenizer_config.json"), Json.write(Map.of(
                    "bos_token", "<|begin_of_text|>", "eos_token", "<|end_of_text|>",
                    "chat_template", "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}")));
        }
    }

    /** A SentencePiece-style tokenizer.json (▁ normalizer, byte fallback): scores come from the merge ranks. */
    @Test
    void sentencePieceStyleTokenizerJson() throws IOException {
        Map<String, Object> vocab = new LinkedHashMap<>();
        String[] pieces = {"<unk>", "<s>", "</s>", "<0x0A>", "\u2581", "a", "b", "\u2581a", "ab", "\u2581ab"};
        for (int i = 0; i < pieces.length; i++) {
            vocab.put(pieces[i], (long) i);
        }
        Map<String, Object> root = Map.of(
                "added_tokens", List.of(Map.of("id", 1L, "content", "<s>", "special", true),
                        Map.of("id", 2L, "content", "</s>", "special", true)),
                "normalizer", Map.of("type", "Sequence", "normalizers", List.of(
                        Map.of("type", "Prepend", "prepend", "\u2581"),
                        Map.of("type", "Replace", "pattern", Map.of("String", " "), "content", "\u2581"))),
                "model", Map.of("type", "BPE", "unk_token", "<unk>", "byte_fallback", true, "vocab", vocab,
                        "merges", List.of("a b", "\u2581 a", "\u2581a b")));
        Files.writeString(dir.resolve("tokenizer.json"), Json.write(root));
        Files.writeString(dir.resolve("tokenizer_config.json"), Json.write(Map.of("bos_token", "<s>", "eos_token", "</s>",
                "add_bos_token", true, "chat_template", "{{ '[INST] ' + content + ' [/INST]' }}")));
        Tokenizer tok = Tokenizers.fromHfDirectory(dir);
        // "▁ab\n": ab (rank 0) beats ▁a (rank 1), then ▁ab (rank 2); '\n' is no piece, so it falls back to <0x0A>.
        assertArrayEquals(new int[] {1, 9, 3}, tok.encode("ab\n", true, false));
        assertEquals("llama2", tok.chatTemplate().name());
        assertEquals(1, tok.bos());
        assertEquals(" ab\n", tok.decode(tok.encode("ab\n", true, false)));
    }

    /** With tokenizer.model beside a SentencePiece-style tokenizer.json, the protobuf (exact scores) wins; the config still gives the template. */
    @Test
    void sentencePieceModelIsPreferredOverSentencePieceStyleJson() throws IOException {
        Files.copy(TokenizerFixtures.MODELS.resolve("llama2-tokenizer.model"), dir.resolve("tokenizer.model"));
        Files.writeString(dir.resolve("tokenizer.json"), Json.write(Map.of(
                "normalizer", Map.of("type", "Prepend", "prepend", "\u2581"),
                "model", Map.of("type", "BPE", "byte_fallback", true, "vocab", Map.of("a", 0L), "merges", List.of()))));
        Files.writeString(dir.resolve("tokenizer_config.json"), Json.write(Map.of(
                "chat_template", "{% for m in messages %}<|im_start|>{{ m.content }}<|im_end|>{% endfor %}")));
        Tokenizer tok = Tokenizers.fromHfDirectory(dir);
        assertEquals(32000, tok.vocabSize());
        assertArrayEquals(new int[] {1, 15043, 3186}, tok.encode("Hello world", true, false), "llama-spm ids (llama.cpp)");
        assertEquals("chatml", tok.chatTemplate().name());
    }

    @Test
    void malformedTokenizerJsonNamesTheField() throws IOException {
        Path json = dir.resolve("tokenizer.json");
        Files.writeString(json, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}");
        var e = assertThrows(ModelFormatException.class, () -> Tokenizers.fromHfTokenizerJson(json));
        assertTrue(e.getMessage().contains("tokenizer.json") && e.getMessage().contains("model.vocab['a']"), e.getMessage());
        Files.writeString(json, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [7]},"
                + " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"use_regex\": true}}");
        e = assertThrows(ModelFormatException.class, () -> Tokenizers.fromHfTokenizerJson(json));
        assertTrue(e.getMessage().contains("model.merges[0]"), e.getMessage());
        Files.writeString(json, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [] ");
        e = assertThrows(ModelFormatException.class, () -> Tokenizers.fromHfTokenizerJson(json));
        assertTrue(e.getMessage().startsWith("tokenizer.json"), e.getMessage());
        Files.writeString(json, "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
        var u = assertThrows(UnsupportedOperationException.class, () -> Tokenizers.fromHfTokenizerJson(json));
        assertTrue(u.getMessage().contains("Unigram"), u.getMessage());
        var empty = assertThrows(ModelFormatException.class, () -> Tokenizers.fromHfDirectory(dir.resolve("nothing-here")));
        assertTrue(empty.getMessage().contains("neither tokenizer.json nor tokenizer.model"), empty.getMessage());
    }
}
