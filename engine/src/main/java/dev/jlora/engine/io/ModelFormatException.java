package dev.jlora.engine.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A model, tokenizer, adapter or data file is malformed. The message names the file, the place in it
 * and what was expected, so the CLI prints it in one line without a stack trace.
 */
public class ModelFormatException extends IOException {

    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }

    /** "file: message". */
    public static ModelFormatException of(Path file, String format, Object... args) {
        return new ModelFormatException(file.getFileName() + ": " + String.format(format, args));
    }

    /** "file: tensor 'name': message". */
    public static ModelFormatException tensor(Path file, String tensor, String format, Object... args) {
        return new ModelFormatException(file.getFileName() + ": tensor '" + tensor + "': " + String.format(format, args));
    }

    /** "file: field 'name': message" for metadata keys and JSON fields. */
    public static ModelFormatException field(Path file, String field, String format, Object... args) {
        return new ModelFormatException(file.getFileName() + ": field '" + field + "': " + String.format(format, args));
    }
}
