package dev.jlora.fuzz;

import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;

/**
 * What the tokenizer-file fuzz targets do with an input: load it, and if it loads, encode and decode text with
 * special-token markers, whitespace runs, digits, accents, emoji and a NUL. A rejection must be a
 * {@link ModelFormatException} (or {@link UnsupportedOperationException} for a valid file jlora cannot use).
 */
final class TokenizerProbe {
    private TokenizerProbe() {}

    static final String TEXT = "<s>Once upon a time,  there was\t\n a 12345 café 🐈 <|im_start|>user\u0000 [INST] end</s>";

    /** Reads a tokenizer file; the fuzz targets pass one of {@code Tokenizers}' readers. */
    interface Reader {
        Tokenizer read(Path file) throws IOException;
    }

    static void loadAndUse(Reader reader, String fileName, byte[] data) throws IOException {
        Tokenizer t;
        try {
            t = reader.read(FuzzInputs.file(fileName, data));
        } catch (ModelFormatException | UnsupportedOperationException expected) {
            return;   // rejected with a message
        }
        int[] ids = t.encode(TEXT, true, true);
        Blackhole.consume(t.decode(ids).length());
    }
}
