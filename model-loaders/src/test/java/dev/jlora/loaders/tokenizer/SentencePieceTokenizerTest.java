package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** SentencePiece BPE on the real llama vocabularies: the GGUF, tokenizer.model and llama2.c .bin forms. */
class SentencePieceTokenizerTest {
    /** Prompt ids of the stories260K golden output (shared/models/README.md, verified with llama.cpp). */
    private static final int[] ONCE_UPON_A_TIME = {1, 403, 407, 261, 378};

    @Test
    void storiesPromptFromGgufMatchesGolden() throws IOException {
        Tokenizer tok = TokenizerFixtures.gguf("stories260K.gguf");
        assertArrayEquals(ONCE_UPON_A_TIME, tok.encode("Once upon a time", true, false));
        assertEquals(" Once upon a time", tok.decode(ONCE_UPON_A_TIME), "BOS decodes to nothing, the dummy prefix stays");
        assertEquals(512, tok.vocabSize());
        assertEquals(1, tok.bos());
        assertEquals(2, tok.eos());
        assertTrue(tok.isEndOfGeneration(2));
        assertFalse(tok.isEndOfGeneration(1));
    }

    @Test
    void storiesPromptFromTok512BinMatchesGolden() throws IOException {
        Tokenizer tok = Tokenizers.fromLlama2cBin(TokenizerFixtures.MODELS.resolve("tok512.bin"));
        assertArrayEquals(ONCE_UPON_A_TIME, tok.encode("Once upon a time", true, false));
        assertEquals(512, tok.vocabSize());
    }

    @Test
    void tok512BinHoldsTheGgufVocabulary() throws IOException {
        Vocabulary bin = Llama2cTokenizerReader.read(TokenizerFixtures.MODELS.resolve("tok512.bin"));
        Vocabulary gguf = ((VocabularyTokenizer) TokenizerFixtures.gguf("stories260K.gguf")).vocabulary();
        assertEquals(gguf.pieces(), bin.pieces());
        assertArrayEquals(gguf.scores(), bin.scores(), 0f, "scores copied exactly");
        assertArrayEquals(gguf.tokenTypes(), bin.tokenTypes());
    }

    /** The 32000-token Llama 2 vocabulary in its three forms gives llama.cpp's ids on all 46 test texts. */
    @Test
    void llama2ModelAndBinAgreeWithLlamaSpmGguf() throws IOException {
        Tokenizer gguf = TokenizerFixtures.gguf("ggml-vocab-llama-spm.gguf");
        Tokenizer model = Tokenizers.fromSentencePieceModel(TokenizerFixtures.MODELS.resolve("llama2-tokenizer.model"));
        Tokenizer bin = Tokenizers.fromLlama2cBin(TokenizerFixtures.MODELS.resolve("llama2-tokenizer.bin"));
        var inp = TokenizerFixtures.VOCAB.resolve("ggml-vocab-llama-spm.gguf.inp");
        List<String> texts = TokenizerFixtures.testTexts(inp);
        List<int[]> expected = TokenizerFixtures.expectedIds(TokenizerFixtures.VOCAB.resolve("ggml-vocab-llama-spm.gguf.out"));
        for (int i = 0; i < texts.size(); i++) {
            String text = texts.get(i);
            String what = "case " + i + " " + VocabTestCasesTest.escape(text);
            assertArrayEquals(expected.get(i), model.encode(text, false, false), "tokenizer.model " + what);
            assertArrayEquals(expected.get(i), bin.encode(text, false, false), "tokenizer.bin " + what);
            assertArrayEquals(gguf.encode(text, true, false), model.encode(text, true, false), "with BOS " + what);
        }
        assertEquals(32000, model.vocabSize());
        assertEquals(32000, bin.vocabSize());
    }

    @Test
    void parseSpecialSplitsControlTokensAndResetsTheDummyPrefix() throws IOException {
        Tokenizer tok = TokenizerFixtures.gguf("ggml-vocab-llama-spm.gguf");
        int[] hello = tok.encode("Hello", false, false);            // ▁Hello
        assertArrayEquals(new int[] {15043}, hello);
        // parse_special: "<s>" and "</s>" become BOS/EOS and the text after a special token gets a dummy prefix again.
        assertArrayEquals(new int[] {1, 15043, 2, 15043}, tok.encode("<s>Hello</s>Hello", false, true));
        // without parse_special the same characters are ordinary text
        int[] plain = tok.encode("<s>Hello", false, false);
        assertFalse(plain[0] == 1, "'<s>' is text without parseSpecial");
        assertEquals(" <s>Hello", tok.decode(plain));
        assertEquals(0, tok.tokenBytes(1).length, "control tokens decode to nothing");
        assertArrayEquals(new byte[] {0x0A}, tok.tokenBytes(13), "<0x0A> is byte fallback for newline");
    }

    @Test
    void unknownCharactersFallBackToBytes() throws IOException {
        Tokenizer tok = TokenizerFixtures.gguf("stories260K.gguf");
        // '你' is not a piece of the 512-token vocabulary: E4 BD A0 → <0xE4> <0xBD> <0xA0>; byte tokens are ids 3 + byte.
        int[] ids = tok.encode("你", false, false);
        assertArrayEquals(new int[] {3 + 0xE4, 3 + 0xBD, 3 + 0xA0}, java.util.Arrays.copyOfRange(ids, ids.length - 3, ids.length));
        assertEquals(" 你", tok.decode(ids));
    }

    @Test
    void longTextRoundTripsAndMatchesPieceByPiece() throws IOException {
        Tokenizer tok = TokenizerFixtures.gguf("ggml-vocab-llama-spm.gguf");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 4000; i++) {
            sb.append("Once upon a time, ünïcödé 你好 ").append(i).append('\n');
        }
        String text = sb.toString();
        assertEquals(" " + text, tok.decode(tok.encode(text, false, false)));
    }
}
