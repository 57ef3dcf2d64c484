package dev.jlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.tokenizer.Tokenizer;
import dev.jlora.loaders.tokenizer.Tokenizers;

/**
 * {@code tokenizer.json} (byte-level BPE or SentencePiece-BPE, with merges, added tokens and pre-tokenizer settings). Seed: a small GPT-2-style file. A file that loads must then encode and decode text with special tokens, bytes outside the vocabulary and
 * non-ASCII characters without failing.
 */
class TokenizerJsonFuzzTest {
    @FuzzTest(maxDuration = FuzzInputs.BUDGET)
    void tokenizerJson(byte[] data) throws Exception {
        Tokenizer t;
        try {
            t = Tokenizers.fromHfTokenizerJson(FuzzInputs.file("tokenizer.json", data));
        } catch (ModelFormatException | UnsupportedOperationException expected) {
            return;   // rejected with a message
        }
        int[] ids = t.encode(TokenizerProbe.TEXT, true, true);
        Blackhole.consume(t.decode(ids).length());
    }
}
