package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * llama.cpp's special-token rules that do not follow from the token types in the file. Expected ids are
 * llama_tokenize's output (libllama v0.5.0, vocab-only load), recorded from ffm-bindings' LlamaCppTokenizerOracleTest runs.
 */
class SpecialTokenRulesTest {

    /** Qwen2's "</s>" is a normal BPE token in the file; llama.cpp lists it as end of generation, which makes it control. */
    @Test
    void endOfGenerationTextBecomesControl() throws IOException {
        Tokenizer tok = TokenizerFixtures.gguf("ggml-vocab-qwen2.gguf");
        assertArrayEquals(new int[] {594, 6, 57, 8, 128247, 47780, 128243, 29, 5653, 13},
                tok.encode("'s'Z)</s>İ<unk>ñ.", false, true));
        assertArrayEquals(new int[] {4385, 72881, 64, 2391, 220, 15, 197, 10417, 223, 10417, 223, 6, 76, 128247},
                tok.encode("cd语aü 0\t▁▁'m</s>", true, true), "Qwen2 adds no BOS");
        assertFalse(Tokenizers.vocabularyOf(tok).orElseThrow().addBos());
        assertTrue(tok.isEndOfGeneration(128247));
        assertEquals(0, tok.tokenBytes(128247).length, "control tokens print nothing");
    }

    /** Phi-3 (by general.name): special tokens other than <unk>, <s>, <|endoftext|> swallow the whitespace after them. */
    @Test
    void phi3SpecialTokensStripWhitespaceToTheirRight() throws IOException {
        Tokenizer tok = TokenizerFixtures.gguf("ggml-vocab-phi-3.gguf");
        assertArrayEquals(new int[] {525, 345, 2, 278, 30004, 13}, tok.encode("'ve</s> the\r\n", false, true));
        assertArrayEquals(new int[] {1533, 29879, 29958, 29991}, tok.encode("</s>!", false, false),
                "without parse_special, </s> (control) is text");
        assertArrayEquals(new int[] {32010, 6324}, tok.encode("<|user|>\nHi", false, true),
                "<|user|> then ▁Hi: the newline after <|user|> is dropped");
    }
}
