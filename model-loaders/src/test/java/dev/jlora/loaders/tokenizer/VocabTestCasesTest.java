package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.tokenizer.Tokenizer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * llama.cpp's tokenizer test cases ({@code tests/test-tokenizer-0}, files {@code models/ggml-vocab-*.gguf.inp/.out}):
 * 46 texts per vocabulary, encoded with add_special = false, parse_special = false; expected ids are llama.cpp's
 * output (verified with llama.cpp v0.5.0, see shared/models/README.md). Every id must match.
 */
class VocabTestCasesTest {

    @ParameterizedTest
    @ValueSource(strings = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf", "ggml-vocab-gpt-2.gguf",
            "ggml-vocab-llama-bpe.gguf", "ggml-vocab-qwen2.gguf"})
    void everyCaseMatchesLlamaCpp(String vocab) throws IOException {
        Tokenizer tok = TokenizerFixtures.gguf(vocab);
        Path dir = TokenizerFixtures.VOCAB;
        List<String> texts = TokenizerFixtures.testTexts(dir.resolve(vocab + ".inp"));
        List<int[]> expected = TokenizerFixtures.expectedIds(dir.resolve(vocab + ".out"));
        assertEquals(46, texts.size(), "test texts in " + vocab + ".inp");
        assertEquals(texts.size(), expected.size(), "lines in " + vocab + ".out");
        StringBuilder failures = new StringBuilder();
        for (int i = 0; i < texts.size(); i++) {
            int[] got = tok.encode(texts.get(i), false, false);
            if (!Arrays.equals(expected.get(i), got)) {
                failures.append(String.format("case %d %s:%n  expected %s%n  got      %s%n", i,
                        escape(texts.get(i)), Arrays.toString(expected.get(i)), Arrays.toString(got)));
            }
        }
        assertEquals("", failures.toString(), vocab);
    }

    @ParameterizedTest
    @ValueSource(strings = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf", "ggml-vocab-gpt-2.gguf",
            "ggml-vocab-llama-bpe.gguf", "ggml-vocab-qwen2.gguf"})
    void decodeInvertsEncode(String vocab) throws IOException {
        Tokenizer tok = TokenizerFixtures.gguf(vocab);
        boolean spm = ((VocabularyTokenizer) tok).vocabulary().model() == Vocabulary.Model.SPM;
        for (String text : TokenizerFixtures.testTexts(TokenizerFixtures.VOCAB.resolve(vocab + ".inp"))) {
            String decoded = tok.decode(tok.encode(text, false, false));
            // SentencePiece adds a dummy-prefix space in front of non-empty text; decode keeps it (llama.cpp too).
            String expected = spm && !text.isEmpty() ? " " + text : text;
            assertEquals(expected, decoded, () -> "round trip of " + escape(text));
        }
    }

    static String escape(String s) {
        return "'" + s.replace("\n", "\\n").replace("\t", "\\t") + "'";
    }
}
