package dev.jlora.loaders.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A byte-level BPE vocabulary from a GGUF, written as tokenizer.json + tokenizer_config.json and read back through
 * the Hugging Face path: every llama.cpp test case of the vocabulary ({@code .inp}/{@code .out}, add_special and
 * parse_special off) gives the expected ids byte for byte, and special tokens, BOS handling and the vocabulary
 * itself survive the trip.
 */
class HfTokenizerWriterTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-bpe.gguf", "ggml-vocab-qwen2.gguf"})
    void writtenTokenizerJsonReloadsWithByteExactTokenization(String vocab) throws Exception {
        Tokenizer orig = TokenizerFixtures.gguf(vocab);
        Vocabulary v = Tokenizers.vocabularyOf(orig).orElseThrow();
        HfTokenizerWriter.write(v, dir);
        Tokenizer back = Tokenizers.fromHfDirectory(dir);

        List<String> texts = TokenizerFixtures.testTexts(TokenizerFixtures.VOCAB.resolve(vocab + ".inp"));
        List<int[]> expected = TokenizerFixtures.expectedIds(TokenizerFixtures.VOCAB.resolve(vocab + ".out"));
        assertEquals(46, texts.size());
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            int[] got = back.encode(texts.get(i), false, false);
            if (!Arrays.equals(expected.get(i), got)) {
                failures.add("case " + i + " " + VocabTestCasesTest.escape(texts.get(i)) + ": expected "
                        + Arrays.toString(expected.get(i)) + ", got " + Arrays.toString(got));
            }
        }
        assertEquals(List.of(), failures, vocab + " through tokenizer.json");

        Vocabulary b = Tokenizers.vocabularyOf(back).orElseThrow();
        assertEquals(v.pieces(), b.pieces(), "pieces");
        assertEquals(v.merges(), b.merges(), "merges");
        assertArrayEquals(v.tokenTypes(), b.tokenTypes(), "token types");
        assertEquals(BpePreTokenizer.forName(v.preTokenizer()), BpePreTokenizer.forName(b.preTokenizer()), "pre-tokenizer");
        assertEquals(v.bos(), b.bos(), "bos");
        assertEquals(v.eos(), b.eos(), "eos");
        assertEquals(v.addBos(), b.addBos(), "add_bos_token");
        assertEquals(v.addEos(), b.addEos(), "add_eos_token");
        assertEquals(v.chatTemplate(), b.chatTemplate(), "chat template");
        assertArrayEquals(v.strip(), b.strip(), "lstrip/rstrip");

        // special tokens parsed out of text, and BOS added as the GGUF says
        String eos = v.eos() >= 0 ? v.pieces().get(v.eos()) : "";
        String text = "Hello world!" + eos + " again\n\n  12345 naïve";
        assertArrayEquals(orig.encode(text, true, true), back.encode(text, true, true), "add_special + parse_special");
        assertArrayEquals(orig.encode(text, true, false), back.encode(text, true, false), "add_special only");
    }

    @Test
    void vocabulariesTheFormatCannotHoldAreRefusedByName() throws Exception {
        Vocabulary gpt2 = Tokenizers.vocabularyOf(TokenizerFixtures.gguf("ggml-vocab-gpt-2.gguf")).orElseThrow();
        int[] types = gpt2.tokenTypes().clone();
        types[100] = Vocabulary.UNUSED;
        Vocabulary unused = new Vocabulary(gpt2.model(), gpt2.pieces(), gpt2.scores(), types, gpt2.merges(),
                gpt2.preTokenizer(), gpt2.bos(), gpt2.eos(), gpt2.unk(), gpt2.eot(), gpt2.addBos(), gpt2.addEos(),
                false, null, null);
        var u = assertThrows(UnsupportedOperationException.class, () -> HfTokenizerWriter.tokenizerJson(unused));
        assertTrue(u.getMessage().contains("unused token 100 '" + gpt2.pieces().get(100) + "'"), u.getMessage());
        Vocabulary other = new Vocabulary(gpt2.model(), gpt2.pieces(), gpt2.scores(), gpt2.tokenTypes(), gpt2.merges(),
                "chatglm-bpe", gpt2.bos(), gpt2.eos(), gpt2.unk(), gpt2.eot(), false, false, false, null, null);
        u = assertThrows(UnsupportedOperationException.class, () -> HfTokenizerWriter.tokenizerJson(other));
        assertTrue(u.getMessage().contains("pre-tokenizer 'chatglm-bpe'"), u.getMessage());
        Vocabulary spm = Tokenizers.vocabularyOf(TokenizerFixtures.gguf("ggml-vocab-llama-spm.gguf")).orElseThrow();
        var e = assertThrows(IllegalArgumentException.class, () -> HfTokenizerWriter.tokenizerJson(spm));
        assertTrue(e.getMessage().contains("not byte-level BPE"), e.getMessage());
    }
}
