package dev.jlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jlora.loaders.tokenizer.Tokenizers;

/**
 * {@code tokenizer.json} (byte-level BPE or SentencePiece-BPE, with merges, added tokens and pre-tokenizer
 * settings). Seed: a small GPT-2-style file; what a loaded tokenizer must survive is {@link TokenizerProbe}.
 */
class TokenizerJsonFuzzTest {
    @FuzzTest(maxDuration = FuzzInputs.BUDGET)
    void tokenizerJson(byte[] data) throws Exception {
        TokenizerProbe.loadAndUse(Tokenizers::fromHfTokenizerJson, "tokenizer.json", data);
    }
}
