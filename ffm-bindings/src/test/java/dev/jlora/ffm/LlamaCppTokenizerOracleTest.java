package dev.jlora.ffm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.jlora.engine.tokenizer.Tokenizer;
import dev.jlora.loaders.tokenizer.Tokenizers;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Differential test against llama.cpp itself: random texts built from tricky fragments (contractions in both
 * cases, digit runs, every kind of whitespace, combining marks, CJK, emoji, surrogate pairs, special-token text)
 * are tokenized by {@code llama_tokenize} (libllama v0.5.0 from scripts/fetch-llama-natives.sh, loaded vocab-only
 * through {@link LlamaLib#loadVocabOnly}) and by jlora, for all four add_special × parse_special combinations.
 * Every id must match.
 */
@Tag("native")
@Tag("slow")
class LlamaCppTokenizerOracleTest {
    private static final String[] FRAGMENTS = {"a", "b", "Hello", " world", "the", " ", "  ", "\t", "\n", "\r\n", "\r",
            "'s", "'S", "'re", "'LL", "'ve", "'d", "'m", "'t", "'x", "'", "\"", ".", ",", "!", "?", "...", "-", "_", "(", ")",
            "{", "}", "<", ">", "=", "+", "$", "%", "@", "#", "0", "1", "23", "456", "7890", "½", "Ⅻ", "٣", "é", "ñ", "ü",
            "ı", "İ", "ß", "日本", "语", "한국어", "ข", "\u0301", "\u0300", "😀", "🦙", "✅", "\u200d", "\u00a0", "\u3000",
            "\u2009", "\u0085", "\u000b", "\u000c", "<s>", "</s>", "<unk>", "<|eot_id|>", "<|im_start|>", "<|im_end|>",
            "<|endoftext|>", "<|begin_of_text|>", "<|start_header_id|>", "<|user|>", "<|end|>", "[INST]", "[/INST]", "▁",
            "<0x0A>", "Ġ", "ĊĊ", "▁▁", "ab", "cd", "ing", "tion", " the", " a", "A", "Z", "x", "\u007f", "€", "ℂ", "𝕏"};
    private static final int TEXTS = 400;

    @ParameterizedTest
    @ValueSource(strings = {"vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-phi-3.gguf", "vocab/ggml-vocab-gpt-2.gguf",
            "vocab/ggml-vocab-llama-bpe.gguf", "vocab/ggml-vocab-qwen2.gguf", "stories260K.gguf"})
    void randomTextsMatchLlamaTokenize(String name) throws Exception {
        LlamaLib lib = NativeReference.llamaOrSkip();
        Path file = NativeReference.models().resolve(name);
        Tokenizer tok = Tokenizers.fromGguf(file);
        long seed = name.hashCode();
        SplittableRandom rnd = new SplittableRandom(seed);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < TEXTS; i++) {
            StringBuilder sb = new StringBuilder();
            int n = rnd.nextInt(i < TEXTS - 20 ? 12 : 300);
            for (int k = 0; k < n; k++) {
                sb.append(FRAGMENTS[rnd.nextInt(FRAGMENTS.length)]);
            }
            texts.add(sb.toString());
        }
        try (LlamaLib.Model model = lib.loadVocabOnly(file)) {
            for (int flags = 0; flags < 4; flags++) {
                boolean add = (flags & 1) != 0, parse = (flags & 2) != 0;
                for (String text : texts) {
                    int[] want = model.tokenize(text, add, parse);
                    int[] got = tok.encode(text, add, parse);
                    if (!Arrays.equals(want, got)) {
                        assertEquals(Arrays.toString(want), Arrays.toString(got), String.format(
                                "%s seed %d add_special=%b parse_special=%b text %s", name, seed, add, parse,
                                "'" + text.replace("\n", "\\n").replace("\t", "\\t") + "'"));
                    }
                }
            }
        }
    }

    @Test
    void vocabOnlyModelRefusesAContext() throws Exception {
        LlamaLib lib = NativeReference.llamaOrSkip();
        try (LlamaLib.Model model = lib.loadVocabOnly(NativeReference.models().resolve("stories260K.gguf"))) {
            assertEquals(512, model.vocabSize());
            assertThrows(IllegalStateException.class, () -> model.newContext(16, 1));
        }
    }
}
