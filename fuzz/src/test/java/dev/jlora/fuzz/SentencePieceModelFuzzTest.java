package dev.jlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jlora.loaders.tokenizer.Tokenizers;

/**
 * SentencePiece {@code tokenizer.model} (protobuf: pieces, scores, types, trainer and normalizer specs). Seed: a
 * 512-piece model written by jlora; what a loaded tokenizer must survive is {@link TokenizerProbe}.
 */
class SentencePieceModelFuzzTest {
    @FuzzTest(maxDuration = FuzzInputs.BUDGET)
    void sentencePieceModel(byte[] data) throws Exception {
        TokenizerProbe.loadAndUse(Tokenizers::fromSentencePieceModel, "tokenizer.model", data);
    }
}
