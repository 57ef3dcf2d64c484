package dev.jlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.gguf.GgufConfig;
import dev.jlora.loaders.gguf.GgufReader;
import dev.jlora.loaders.tokenizer.Tokenizers;
import java.nio.file.Path;

/**
 * GGUF files from the internet: header, metadata, tensor infos, config, tokenizer and the whole model load. Bad input
 * must end in {@link ModelFormatException} (or UnsupportedOperationException for a valid file jlora cannot run);
 * any other exception, an out-of-memory or a hang is a finding. Seeds: a tiny F32 and a tiny Q8_0 model.
 */
class GgufFuzzTest {
    @FuzzTest(maxDuration = FuzzInputs.BUDGET)
    void gguf(byte[] data) throws Exception {
        Path f = FuzzInputs.file("model.gguf", data);
        try (var g = GgufReader.open(f)) {
            GgufConfig.read(g);
            Tokenizers.fromGguf(g).encode("Once upon a time", true, false);
        } catch (ModelFormatException | UnsupportedOperationException expected) {
            // rejected with a message: what we want from a bad file
        }
        try {
            var m = ModelLoader.load(f);
            m.tokenizer().decode(m.tokenizer().encode("a b", true, false));
        } catch (ModelFormatException | UnsupportedOperationException expected) {
            // rejected with a message
        }
    }
}
