package dev.jlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.tokenizer.Tokenizer;
import dev.jlora.loaders.tokenizer.Tokenizers;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * JSONL training data in its three shapes ({"text"}, {"prompt","completion"}, {"messages"} with roles), UTF-8
 * checks, line limits, tokenization, packing into rows and the eval split. Seed: one line of each shape.
 */
class JsonlDatasetFuzzTest {
    private static final Tokenizer TOKENIZER;

    static {
        try {
            TOKENIZER = Tokenizers.fromGguf(FuzzInputs.model("stories260K.gguf"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @FuzzTest(maxDuration = FuzzInputs.BUDGET)
    void jsonl(byte[] data) throws Exception {
        try {
            Dataset ds = Dataset.load(FuzzInputs.file("data.jsonl", data), TOKENIZER, 16, 0.2, 1);
            Blackhole.consume(ds.train().size() + ds.eval().size());
        } catch (ModelFormatException expected) {
            // rejected with a message
        }
    }
}
