package dev.jlora.engine.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Strict JSON (RFC 8259) to plain Java and back, safe on hostile input.
 *
 * <p>Parsing gives {@code Map<String,Object>} (insertion order, duplicate keys rejected), {@code List<Object>},
 * {@code String}, {@code Long} (integers that fit), {@code Double} (everything else numeric, finite only),
 * {@code Boolean} and {@code null}. Nothing beyond the RFC is accepted: no comments, trailing commas, single
 * quotes, NaN/Infinity, leading zeros or unpaired surrogate escapes. Nesting depth, input size, string length
 * and number length are bounded by {@link Limits}, so a hostile document fails with a
 * {@link JsonParseException} (line, column, what was expected) instead of overflowing the stack or the heap.
 *
 * <p>Writing accepts the same types plus other {@link Number}s, {@link CharSequence}s and primitive arrays,
 * compact or pretty (two-space indent), escaping control characters and U+2028/U+2029; unpaired surrogates
 * are rejected (they have no UTF-8 form).
 */
public final class Json {

    private Json() {}

    /**
     * Bounds on what the parser accepts.
     *
     * @param maxDepth         deepest nesting of arrays/objects
     * @param maxInputChars    characters of the whole document
     * @param maxStringChars   characters of one string (key or value), after unescaping
     * @param maxNumberChars   characters of one number literal
     */
    public record Limits(int maxDepth, long maxInputChars, int maxStringChars, int maxNumberChars) {
        /** Generous enough for tokenizer.json and safetensors headers, small enough to fail fast. */
        public static final Limits DEFAULT = new Limits(512, 256L << 20, 64 << 20, 1024);

        public Limits {
            if (maxDepth < 1 || maxInputChars < 1 || maxStringChars < 1 || maxNumberChars < 1) {
                throw new IllegalArgumentException("limits must be positive: " + maxDepth + ", " + maxInputChars
                        + ", " + maxStringChars + ", " + maxNumberChars);
            }
        }
    }

    /** Parses one JSON document with {@link Limits#DEFAULT}. */
    public static Object parse(CharSequence text) throws JsonParseException {
        return parse(text, Limits.DEFAULT, null);
    }

    /**
     * Parses one JSON document.
     *
     * @param source name put in front of error messages (a file name), or null
     */
    public static Object parse(CharSequence text, Limits limits, String source) throws JsonParseException {
        if (text.length() > limits.maxInputChars()) {
            throw new JsonParseException(source, 1, 1, String.format(
                    "document has %,d characters, more than the limit of %,d", text.length(), limits.maxInputChars()));
        }
        return new Parser(text, limits, source, 1).document();
    }

    /** Parses a document whose top level must be an object. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> parseObject(CharSequence text, Limits limits, String source)
            throws JsonParseException {
        Object v = parse(text, limits, source);
        if (!(v instanceof Map)) {
            throw new JsonParseException(source, 1, 1, "expected a JSON object at the top level, found " + typeName(v));
        }
        return (Map<String, Object>) v;
    }

    /** Reads and parses a UTF-8 JSON file (a leading byte-order mark is skipped); errors name the file. */
    public static Object read(Path file) throws IOException {
        return read(file, Limits.DEFAULT);
    }

    /** Reads and parses a UTF-8 JSON file under {@code limits}. */
    public static Object read(Path file, Limits limits) throws IOException {
        String name = String.valueOf(file.getFileName());
        return parse(readText(file, limits, name), limits, name);
    }

    /** Reads a UTF-8 JSON file whose top level must be an object. */
    public static Map<String, Object> readObject(Path file) throws IOException {
        String name = String.valueOf(file.getFileName());
        return parseObject(readText(file, Limits.DEFAULT, name), Limits.DEFAULT, name);
    }

    /**
     * Reads a JSON Lines file: one document per non-blank line. Errors carry the line number in the file.
     * {@code limits.maxInputChars} bounds the whole file.
     */
    public static List<Object> readLines(Path file, Limits limits) throws IOException {
        String name = String.valueOf(file.getFileName());
        String text = readText(file, limits, name);
        List<Object> out = new ArrayList<>();
        int lineNo = 1;
        int start = 0;
        while (start <= text.length()) {
            int nl = text.indexOf('\n', start);
            int end = nl < 0 ? text.length() : nl;
            String line = text.substring(start, end);
            if (!line.isBlank()) {
                out.add(new Parser(line, limits, name, lineNo).document());
            }
            if (nl < 0) {
                break;
            }
            start = nl + 1;
            lineNo++;
        }
        return out;
    }

    private static String readText(Path file, Limits limits, String name) throws IOException {
        long size = Files.size(file);
        // UTF-8 never has fewer bytes than UTF-16 chars, so the byte count bounds the char count from above
        // only loosely; four bytes per char is the tightest bound that rejects nothing valid.
        if (size > 4 * limits.maxInputChars() || size > Integer.MAX_VALUE - 16) {
            throw ModelFormatException.of(file, "JSON file has %,d bytes, more than the limit of %,d characters",
                    size, limits.maxInputChars());
        }
        byte[] bytes = Files.readAllBytes(file);
        int off = bytes.length >= 3 && (bytes[0] & 0xFF) == 0xEF && (bytes[1] & 0xFF) == 0xBB
                && (bytes[2] & 0xFF) == 0xBF ? 3 : 0;
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes, off, bytes.length - off)).toString();
        } catch (CharacterCodingException e) {
            throw new ModelFormatException(name + ": not valid UTF-8 (" + e.getMessage() + ")", e);
        }
    }

    /** "object", "array", "string", "number", "boolean" or "null": JSON's name for a parsed value's type. */
    public static String typeName(Object v) {
        return switch (v) {
            case null -> "null";
            case Map<?, ?> _ -> "object";
            case List<?> _ -> "array";
            case String _ -> "string";
            case Number _ -> "number";
            case Boolean _ -> "boolean";
            default -> v.getClass().getSimpleName();
        };
    }

    // ---------------------------------------------------------------------------------------------- parser

    private static final class Parser {
        private final CharSequence s;
        private final Limits limits;
        private final String source;
        private final int firstLine;
        private int pos;
        private int depth;

        Parser(CharSequence s, Limits limits, String source, int firstLine) {
            this.s = s;
            this.limits = limits;
            this.source = source;
            this.firstLine = firstLine;
        }

        Object document() throws JsonParseException {
            skipWs();
            if (pos >= s.length()) {
                throw error(pos, "expected a JSON value, found end of input");
            }
            Object v = value();
            skipWs();
            if (pos < s.length()) {
                throw error(pos, "expected end of input after the value, found " + describe(pos));
            }
            return v;
        }

        private Object value() throws JsonParseException {
            if (pos >= s.length()) {
                throw error(pos, "expected a JSON value, found end of input");
            }
            char c = s.charAt(pos);
            return switch (c) {
                case '{' -> object();
                case '[' -> array();
                case '"' -> string();
                case 't' -> literal("true", Boolean.TRUE);
                case 'f' -> literal("false", Boolean.FALSE);
                case 'n' -> literal("null", null);
                default -> {
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        yield number();
                    }
                    throw error(pos, "expected a JSON value (object, array, string, number, true, false, null), found "
                            + describe(pos));
                }
            };
        }

        private Map<String, Object> object() throws JsonParseException {
            int open = pos;
            enter(open);
            pos++; // '{'
            Map<String, Object> map = new LinkedHashMap<>();
            skipWs();
            if (peek() == '}') {
                pos++;
                depth--;
                return map;
            }
            while (true) {
                skipWs();
                if (peek() != '"') {
                    throw error(pos, "expected a string key in object, found " + describe(pos));
                }
                int keyPos = pos;
                String key = string();
                skipWs();
                if (peek() != ':') {
                    throw error(pos, "expected ':' after object key \"" + abbreviate(key) + "\", found " + describe(pos));
                }
                pos++;
                skipWs();
                Object v = value();
                if (map.containsKey(key)) {
                    throw error(keyPos, "duplicate object key \"" + abbreviate(key) + "\"");
                }
                map.put(key, v);
                skipWs();
                char c = peek();
                if (c == ',') {
                    pos++;
                } else if (c == '}') {
                    pos++;
                    depth--;
                    return map;
                } else {
                    throw error(pos, "expected ',' or '}' after object member, found " + describe(pos));
                }
            }
        }

        private List<Object> array() throws JsonParseException {
            enter(pos);
            pos++; // '['
            List<Object> list = new ArrayList<>();
            skipWs();
            if (peek() == ']') {
                pos++;
                depth--;
                return list;
            }
            while (true) {
                skipWs();
                list.add(value());
                skipWs();
                char c = peek();
                if (c == ',') {
                    pos++;
                } else if (c == ']') {
                    pos++;
                    depth--;
                    return list;
                } else {
                    throw error(pos, "expected ',' or ']' after array element, found " + describe(pos));
                }
            }
        }

        private void enter(int at) throws JsonParseException {
            if (++depth > limits.maxDepth()) {
                throw error(at, "nesting deeper than the limit of " + limits.maxDepth());
            }
        }

        private String string() throws JsonParseException {
            int start = pos;
            pos++; // opening quote
            StringBuilder sb = null;
            int runStart = pos;
            while (true) {
                if (pos >= s.length()) {
                    throw error(start, "unterminated string (expected closing '\"' before end of input)");
                }
                char c = s.charAt(pos);
                if (c == '"') {
                    String out;
                    if (sb == null) {
                        out = s.subSequence(runStart, pos).toString();
                    } else {
                        sb.append(s, runStart, pos);
                        out = sb.toString();
                    }
                    if (out.length() > limits.maxStringChars()) {
                        throw error(start, String.format("string of %,d characters is longer than the limit of %,d",
                                out.length(), limits.maxStringChars()));
                    }
                    pos++;
                    return out;
                }
                if (c < 0x20) {
                    throw error(pos, String.format("control character U+%04X must be escaped inside a string", (int) c));
                }
                if (c == '\\') {
                    if (sb == null) {
                        sb = new StringBuilder();
                    }
                    sb.append(s, runStart, pos);
                    escape(sb);
                    if (sb.length() > limits.maxStringChars()) {
                        throw error(start, "string is longer than the limit of " + limits.maxStringChars() + " characters");
                    }
                    runStart = pos;
                    continue;
                }
                pos++;
            }
        }

        /** At a backslash: appends the escaped char(s) and moves past the escape. */
        private void escape(StringBuilder sb) throws JsonParseException {
            int at = pos;
            pos++;
            if (pos >= s.length()) {
                throw error(at, "unterminated escape sequence at end of input");
            }
            char e = s.charAt(pos++);
            switch (e) {
                case '"' -> sb.append('"');
                case '\\' -> sb.append('\\');
                case '/' -> sb.append('/');
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'n' -> sb.append('\n');
                case 'r' -> sb.append('\r');
                case 't' -> sb.append('\t');
                case 'u' -> {
                    char u = hex4(at);
                    if (Character.isHighSurrogate(u)) {
                        if (pos + 1 < s.length() && s.charAt(pos) == '\\' && s.charAt(pos + 1) == 'u') {
                            int lowAt = pos;
                            pos += 2;
                            char low = hex4(lowAt);
                            if (!Character.isLowSurrogate(low)) {
                                throw error(lowAt, String.format(
                                        "expected a low surrogate escape after \\u%04X, found \\u%04X", (int) u, (int) low));
                            }
                            sb.append(u).append(low);
                        } else {
                            throw error(at, String.format("unpaired high surrogate escape \\u%04X", (int) u));
                        }
                    } else if (Character.isLowSurrogate(u)) {
                        throw error(at, String.format("unpaired low surrogate escape \\u%04X", (int) u));
                    } else {
                        sb.append(u);
                    }
                }
                default -> throw error(at, "invalid escape '\\" + printable(e)
                        + "' (expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
            }
        }

        private char hex4(int escapeAt) throws JsonParseException {
            if (pos + 4 > s.length()) {
                throw error(escapeAt, "expected 4 hex digits after \\u, found end of input");
            }
            int v = 0;
            for (int i = 0; i < 4; i++) {
                char h = s.charAt(pos + i);
                int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                if (d < 0) {
                    throw error(pos + i, "expected 4 hex digits after \\u, found " + describe(pos + i));
                }
                v = v * 16 + d;
            }
            pos += 4;
            return (char) v;
        }

        private Object literal(String word, Object value) throws JsonParseException {
            for (int i = 0; i < word.length(); i++) {
                if (pos + i >= s.length() || s.charAt(pos + i) != word.charAt(i)) {
                    throw error(pos, "expected a JSON value (literal '" + word + "'?), found " + describe(pos));
                }
            }
            pos += word.length();
            return value;
        }

        private Object number() throws JsonParseException {
            int start = pos;
            if (peek() == '-') {
                pos++;
            }
            if (pos >= s.length() || !isDigit(s.charAt(pos))) {
                throw error(pos, "expected a digit in number, found " + describe(pos));
            }
            if (s.charAt(pos) == '0') {
                pos++;
                if (pos < s.length() && isDigit(s.charAt(pos))) {
                    throw error(start, "leading zeros are not allowed in numbers");
                }
            } else {
                digits();
            }
            boolean integral = true;
            if (peek() == '.') {
                integral = false;
                pos++;
                if (pos >= s.length() || !isDigit(s.charAt(pos))) {
                    throw error(pos, "expected a digit after the decimal point, found " + describe(pos));
                }
                digits();
            }
            char c = peek();
            if (c == 'e' || c == 'E') {
                integral = false;
                pos++;
                c = peek();
                if (c == '+' || c == '-') {
                    pos++;
                }
                if (pos >= s.length() || !isDigit(s.charAt(pos))) {
                    throw error(pos, "expected a digit in the exponent, found " + describe(pos));
                }
                digits();
            }
            int len = pos - start;
            if (len > limits.maxNumberChars()) {
                throw error(start, "number of " + len + " characters is longer than the limit of " + limits.maxNumberChars());
            }
            String lit = s.subSequence(start, pos).toString();
            if (integral && len <= 20) { // "-9223372036854775808" has 20 chars
                try {
                    return Long.parseLong(lit);
                } catch (NumberFormatException overflow) {
                    // beyond long: fall through to double
                }
            }
            double d = Double.parseDouble(lit);
            if (Double.isInfinite(d)) {
                throw error(start, "number " + abbreviate(lit) + " is outside the range of a double");
            }
            return d;
        }

        private void digits() {
            while (pos < s.length() && isDigit(s.charAt(pos))) {
                pos++;
            }
        }

        private static boolean isDigit(char c) {
            return c >= '0' && c <= '9';
        }

        private char peek() {
            return pos < s.length() ? s.charAt(pos) : '\0';
        }

        private void skipWs() {
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                    return;
                }
                pos++;
            }
        }

        private String describe(int at) {
            if (at >= s.length()) {
                return "end of input";
            }
            return "'" + printable(s.charAt(at)) + "'";
        }

        private JsonParseException error(int at, String message) {
            int line = firstLine;
            int lineStart = 0;
            int end = Math.min(at, s.length());
            for (int i = 0; i < end; i++) {
                if (s.charAt(i) == '\n') {
                    line++;
                    lineStart = i + 1;
                }
            }
            return new JsonParseException(source, line, at - lineStart + 1, message);
        }
    }

    private static String printable(char c) {
        if (c < 0x20 || c == 0x7F || Character.isSurrogate(c) || c == '\u2028' || c == '\u2029') {
            return String.format("U+%04X", (int) c);
        }
        return String.valueOf(c);
    }

    private static String abbreviate(String str) {
        String t = str.length() > 60 ? str.substring(0, 57) + "..." : str;
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < t.length(); i++) {
            char c = t.charAt(i);
            sb.append(c < 0x20 ? String.format("\\u%04X", (int) c) : String.valueOf(c));
        }
        return sb.toString();
    }

    // ---------------------------------------------------------------------------------------------- writer

    /** Compact JSON text of {@code value} (no whitespace). */
    public static String write(Object value) {
        StringBuilder sb = new StringBuilder();
        write(value, sb, false);
        return sb.toString();
    }

    /** Pretty JSON text of {@code value}: two-space indent, one member per line, no trailing newline. */
    public static String writePretty(Object value) {
        StringBuilder sb = new StringBuilder();
        write(value, sb, true);
        return sb.toString();
    }

    /**
     * Appends the JSON text of {@code value}. Accepts what the parser returns plus any {@link Number}
     * (non-finite doubles are rejected), {@link CharSequence}, {@code Character}, primitive arrays and
     * {@code Object[]}. Map keys must be strings.
     *
     * @throws IllegalArgumentException for other types, non-string keys, NaN or infinities (naming the path)
     */
    public static void write(Object value, Appendable out, boolean pretty) {
        try {
            new Writer(out, pretty).value(value, 0, "$");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private record Writer(Appendable out, boolean pretty) {

        void value(Object v, int indent, String path) throws IOException {
            switch (v) {
                case null -> out.append("null");
                case Boolean b -> out.append(b.toString());
                case CharSequence cs -> string(cs);
                case Character ch -> string(String.valueOf(ch));
                case Double d -> floating(d, path);
                case Float f -> floating(f, path);
                case Long l -> out.append(l.toString());
                case Integer i -> out.append(i.toString());
                case Short sh -> out.append(sh.toString());
                case Byte by -> out.append(by.toString());
                case BigInteger bi -> out.append(bi.toString());
                case BigDecimal bd -> out.append(bd.toString());
                case Map<?, ?> m -> object(m, indent, path);
                case List<?> l -> array(l, indent, path);
                case Object[] a -> array(List.of(a), indent, path);
                case float[] a -> {
                    List<Object> l = new ArrayList<>(a.length);
                    for (float x : a) {
                        l.add(x);
                    }
                    array(l, indent, path);
                }
                case double[] a -> {
                    List<Object> l = new ArrayList<>(a.length);
                    for (double x : a) {
                        l.add(x);
                    }
                    array(l, indent, path);
                }
                case int[] a -> {
                    List<Object> l = new ArrayList<>(a.length);
                    for (int x : a) {
                        l.add(x);
                    }
                    array(l, indent, path);
                }
                case long[] a -> {
                    List<Object> l = new ArrayList<>(a.length);
                    for (long x : a) {
                        l.add(x);
                    }
                    array(l, indent, path);
                }
                case boolean[] a -> {
                    List<Object> l = new ArrayList<>(a.length);
                    for (boolean x : a) {
                        l.add(x);
                    }
                    array(l, indent, path);
                }
                default -> throw new IllegalArgumentException(
                        "cannot write " + v.getClass().getName() + " as JSON at " + path);
            }
        }

        private void floating(double d, String path) throws IOException {
            if (!Double.isFinite(d)) {
                throw new IllegalArgumentException("JSON has no " + d + " (at " + path + ")");
            }
            out.append(Double.toString(d));
        }

        private void floating(float f, String path) throws IOException {
            if (!Float.isFinite(f)) {
                throw new IllegalArgumentException("JSON has no " + f + " (at " + path + ")");
            }
            // Float.toString keeps the shortest decimal that reads back as the same float.
            out.append(Float.toString(f));
        }

        private void object(Map<?, ?> m, int indent, String path) throws IOException {
            if (m.isEmpty()) {
                out.append("{}");
                return;
            }
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!(e.getKey() instanceof String key)) {
                    throw new IllegalArgumentException("JSON object keys must be strings, got "
                            + (e.getKey() == null ? "null" : e.getKey().getClass().getName()) + " at " + path);
                }
                if (!first) {
                    out.append(',');
                }
                first = false;
                newline(indent + 1);
                string(key);
                out.append(pretty ? ": " : ":");
                value(e.getValue(), indent + 1, path + "." + key);
            }
            newline(indent);
            out.append('}');
        }

        private void array(List<?> l, int indent, String path) throws IOException {
            if (l.isEmpty()) {
                out.append("[]");
                return;
            }
            out.append('[');
            for (int i = 0; i < l.size(); i++) {
                if (i > 0) {
                    out.append(',');
                }
                newline(indent + 1);
                value(l.get(i), indent + 1, path + "[" + i + "]");
            }
            newline(indent);
            out.append(']');
        }

        private void newline(int indent) throws IOException {
            if (pretty) {
                out.append('\n');
                for (int i = 0; i < indent; i++) {
                    out.append("  ");
                }
            }
        }

        private static final char[] HEX = "0123456789abcdef".toCharArray();

        private void string(CharSequence cs) throws IOException {
            out.append('"');
            int n = cs.length();
            for (int i = 0; i < n; i++) {
                char c = cs.charAt(i);
                switch (c) {
                    case '"' -> out.append("\\\"");
                    case '\\' -> out.append("\\\\");
                    case '\n' -> out.append("\\n");
                    case '\r' -> out.append("\\r");
                    case '\t' -> out.append("\\t");
                    case '\b' -> out.append("\\b");
                    case '\f' -> out.append("\\f");
                    default -> {
                        boolean pairedSurrogate = Character.isHighSurrogate(c) && i + 1 < n
                                && Character.isLowSurrogate(cs.charAt(i + 1))
                                || Character.isLowSurrogate(c) && i > 0 && Character.isHighSurrogate(cs.charAt(i - 1));
                        if (Character.isSurrogate(c) && !pairedSurrogate) {
                            // No UTF-8 encoding exists for it and our parser rejects it: fail here, naming it.
                            throw new IllegalArgumentException(String.format(
                                    "unpaired surrogate U+%04X at index %d of a string cannot be written as JSON", (int) c, i));
                        }
                        // Control chars must be escaped (RFC 8259 §7); U+2028/9 break JavaScript string literals.
                        if (c < 0x20 || c == '\u2028' || c == '\u2029') {
                            out.append("\\u").append(HEX[c >> 12 & 15]).append(HEX[c >> 8 & 15])
                                    .append(HEX[c >> 4 & 15]).append(HEX[c & 15]);
                        } else {
                            out.append(c);
                        }
                    }
                }
            }
            out.append('"');
        }
    }
}
