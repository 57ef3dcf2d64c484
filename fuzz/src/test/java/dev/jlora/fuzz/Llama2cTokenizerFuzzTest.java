package dev.jlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jlora.loaders.tokenizer.Tokenizers;

/**
 * llama2.c {@code tokenizer.bin} (max token length, then score, length and bytes per token). Seed: tok512.bin of
 * shared/models; what a loaded tokenizer must survive is {@link TokenizerProbe}.
 */
class Llama2cTokenizerFuzzTest {
    @FuzzTest(maxDuration = FuzzInputs.BUDGET)
    void llama2cTokenizer(byte[] data) throws Exception {
        TokenizerProbe.loadAndUse(Tokenizers::fromLlama2cBin, "tokenizer.bin", data);
    }
}
