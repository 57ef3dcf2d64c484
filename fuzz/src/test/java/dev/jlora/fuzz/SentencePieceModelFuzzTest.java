package dev.jlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.tokenizer.Tokenizer;
import dev.jlora.loaders.tokenizer.Tokenizers;

/**
 * SentencePiece {@code tokenizer.model} (protobuf: pieces, scores, types, trainer and normalizer specs). Seed: a 512-piece model written by jlora. A file that loads must then encode and decode text with special tokens, bytes outside the vocabulary and
 * non-ASCII characters without failing.
 */
class SentencePieceModelFuzzTest {
    @FuzzTest(maxDuration = FuzzInputs.BUDGET)
    void sentencePieceModel(byte[] data) throws Exception {
        Tokenizer t;
        try {
            t = Tokenizers.fromSentencePieceModel(FuzzInputs.file("tokenizer.model", data));
        } catch (ModelFormatException | UnsupportedOperationException expected) {
            return;   // rejected with a message
        }
        int[] ids = t.encode(TokenizerProbe.TEXT, true, true);
        Blackhole.consume(t.decode(ids).length());
    }
}
