package dev.jlora.loaders;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jlora.engine.tokenizer.Tokenizer;
import dev.jlora.loaders.gguf.GgufWriter;
import dev.jlora.loaders.tokenizer.Tokenizers;
import dev.jlora.loaders.tokenizer.Vocabulary;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/** The tokenizer.ggml.* metadata ModelWriter writes gives back the vocabulary and the same token ids. */
class GgufTokenizerExportTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    // SPM, SPM with a chat template, byte-level BPE with merges; the 128k/152k BPE vocabularies take the same
    // path and cost seconds each, so they are left to the tokenizer's own tests.
    @ValueSource(strings = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf", "ggml-vocab-gpt-2.gguf"})
    void vocabularyRoundTripsThroughGgufMetadata(String file) throws Exception {
        Path src = Path.of(System.getProperty("jlora.models", "../shared/models"), "vocab", file);
        Tokenizer orig = Tokenizers.fromGguf(src);
        Vocabulary v = Tokenizers.vocabularyOf(orig).orElseThrow();
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        ModelWriter.putTokenizer(w, v);
        Path out = dir.resolve(file);
        w.write(out);
        Tokenizer back = Tokenizers.fromGguf(out);
        Vocabulary b = Tokenizers.vocabularyOf(back).orElseThrow();
        assertEquals(v.pieces(), b.pieces());
        assertEquals(v.merges(), b.merges());
        assertArrayEquals(v.tokenTypes(), b.tokenTypes());
        assertArrayEquals(v.scores(), b.scores());
        assertEquals(v.preTokenizer(), b.preTokenizer());
        assertEquals(v.bos(), b.bos());
        assertEquals(v.eos(), b.eos());
        assertEquals(v.addBos(), b.addBos());
        assertEquals(v.chatTemplate(), b.chatTemplate());
        String text = "Hello world! Once upon a time, naïve café — 日本語 🤖 12345\n\ttabs";
        assertArrayEquals(orig.encode(text, true, false), back.encode(text, true, false));
    }
}
