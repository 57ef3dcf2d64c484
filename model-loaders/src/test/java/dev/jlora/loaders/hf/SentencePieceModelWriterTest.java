package dev.jlora.loaders.hf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jlora.engine.tokenizer.Tokenizer;
import dev.jlora.loaders.tokenizer.Tokenizers;
import dev.jlora.loaders.tokenizer.Vocabulary;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SentencePieceModelWriterTest {

    /** Llama 2's tokenizer.model (32000 pieces) → Vocabulary → our tokenizer.model → the same vocabulary and ids. */
    @Test
    void llama2TokenizerSurvivesRewrite(@TempDir Path dir) throws Exception {
        Path models = Path.of(System.getProperty("jlora.models", "../shared/models"));
        Tokenizer orig = Tokenizers.fromSentencePieceModel(models.resolve("llama2-tokenizer.model"));
        Vocabulary v = Tokenizers.vocabularyOf(orig).orElseThrow();
        Path out = dir.resolve("tokenizer.model");
        SentencePieceModelWriter.write(v, out);
        Tokenizer back = Tokenizers.fromSentencePieceModel(out);
        Vocabulary w = Tokenizers.vocabularyOf(back).orElseThrow();
        assertEquals(v.pieces(), w.pieces());
        assertArrayEquals(v.scores(), w.scores());
        assertArrayEquals(v.tokenTypes(), w.tokenTypes());
        assertEquals(v.bos(), w.bos());
        assertEquals(v.eos(), w.eos());
        assertEquals(v.unk(), w.unk());
        assertEquals(v.addSpacePrefix(), w.addSpacePrefix());
        String text = "Hello world! Once upon a time, naïve café — 日本語 🤖\n\ttabs";
        assertArrayEquals(orig.encode(text, true, false), back.encode(text, true, false));
    }
}
