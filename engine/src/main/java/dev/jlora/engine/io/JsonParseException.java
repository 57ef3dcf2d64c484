package dev.jlora.engine.io;

/**
 * Malformed JSON: the message reads {@code "source: line L, column C: what was expected, what was found"}.
 * Line and column are 1-based and count UTF-16 chars. A {@link ModelFormatException}, so the CLI prints it
 * in one line; the HTTP server maps it to 400.
 */
public final class JsonParseException extends ModelFormatException {

    private static final long serialVersionUID = 1L;

    private final int line;
    private final int column;

    JsonParseException(String source, int line, int column, String message) {
        super((source == null ? "" : source + ": ") + "line " + line + ", column " + column + ": " + message);
        this.line = line;
        this.column = column;
    }

    /** 1-based line of the error. */
    public int line() {
        return line;
    }

    /** 1-based column (UTF-16 chars) of the error. */
    public int column() {
        return column;
    }
}
