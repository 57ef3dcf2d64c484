package dev.jlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.tokenizer.Tokenizer;
import dev.jlora.loaders.tokenizer.Tokenizers;

/**
 * llama2.c {@code tokenizer.bin} (max token length, then score, length and bytes per token). Seed: tok512.bin of shared/models. A file that loads must then encode and decode text with special tokens, bytes outside the vocabulary and
 * non-ASCII characters without failing.
 */
class Llama2cTokenizerFuzzTest {
    @FuzzTest(maxDuration = FuzzInputs.BUDGET)
    void llama2cTokenizer(byte[] data) throws Exception {
        Tokenizer t;
        try {
            t = Tokenizers.fromLlama2cBin(FuzzInputs.file("tokenizer.bin", data));
        } catch (ModelFormatException | UnsupportedOperationException expected) {
            return;   // rejected with a message
        }
        int[] ids = t.encode(TokenizerProbe.TEXT, true, true);
        Blackhole.consume(t.decode(ids).length());
    }
}
