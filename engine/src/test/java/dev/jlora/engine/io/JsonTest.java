package dev.jlora.engine.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class JsonTest {

    @Test
    void parsesEveryValueTypeKeepingKeyOrder() throws Exception {
        Object v = Json.parse("""
                {"z": 1, "a": -2.5e3, "m": [true, false, null, "s\\u00e9\\n", {}], "big": 12345678901234567890,
                 "max": 9223372036854775807, "neg": -9223372036854775808, "zero": -0, "frac": 0.125}
                """);
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) v;
        assertEquals(List.of("z", "a", "m", "big", "max", "neg", "zero", "frac"), new ArrayList<>(m.keySet()));
        assertEquals(1L, m.get("z"));
        assertEquals(-2500.0, m.get("a"));
        List<?> arr = (List<?>) m.get("m");
        assertEquals(Boolean.TRUE, arr.get(0));
        assertEquals(Boolean.FALSE, arr.get(1));
        assertNull(arr.get(2));
        assertEquals("sé\n", arr.get(3));
        assertEquals(Map.of(), arr.get(4));
        // Beyond long: a double, as the class documents.
        assertEquals(1.2345678901234567e19, m.get("big"));
        assertEquals(Long.MAX_VALUE, m.get("max"));
        assertEquals(Long.MIN_VALUE, m.get("neg"));
        assertEquals(0L, m.get("zero"));
        assertEquals(0.125, m.get("frac"));
    }

    @Test
    void decodesSurrogatePairEscapesAndRawUnicode() throws Exception {
        assertEquals("😀x€", Json.parse("\"\\ud83d\\ude00x€\""));
        assertEquals("\"\\/\b\f\n\r\t", Json.parse("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""));
    }

    @ParameterizedTest(name = "[{index}] {3}")
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
            "``                         | 1 | 1 | expected a JSON value",
            "`   `                      | 1 | 4 | found end of input",
            "`{\"a\":1,}`               | 1 | 8 | expected a string key in object, found '}'",
            "`[1,2,]`                   | 1 | 6 | expected a JSON value",
            "`[1 2]`                    | 1 | 4 | expected ',' or ']' after array element, found '2'",
            "`{\"a\" 1}`                | 1 | 6 | expected ':' after object key \"a\"",
            "`{\"a\":1 \"b\":2}`        | 1 | 8 | expected ',' or '}' after object member",
            "`{a:1}`                    | 1 | 2 | expected a string key",
            "`'x'`                      | 1 | 1 | expected a JSON value",
            "`01`                       | 1 | 1 | leading zeros",
            "`-`                        | 1 | 2 | expected a digit in number",
            "`1.`                       | 1 | 3 | expected a digit after the decimal point",
            "`.5`                       | 1 | 1 | expected a JSON value",
            "`1e`                       | 1 | 3 | expected a digit in the exponent",
            "`+1`                       | 1 | 1 | expected a JSON value",
            "`NaN`                      | 1 | 1 | expected a JSON value",
            "`Infinity`                 | 1 | 1 | expected a JSON value",
            "`1e400`                    | 1 | 1 | outside the range of a double",
            "`tru`                      | 1 | 1 | literal 'true'",
            "`nul`                      | 1 | 1 | literal 'null'",
            "`\"abc`                    | 1 | 1 | unterminated string",
            "`\"a\\qb\"`                | 1 | 3 | invalid escape '\\q'",
            "`\"\\u12G4\"`              | 1 | 6 | expected 4 hex digits",
            "`\"\\u12\"`                | 1 | 2 | expected 4 hex digits",
            "`\"\\ud800\"`              | 1 | 2 | unpaired high surrogate",
            "`\"\\udc00\"`              | 1 | 2 | unpaired low surrogate",
            "`\"\\ud800\\u0041\"`       | 1 | 8 | expected a low surrogate escape",
            "`{\"a\":1,\"a\":2}`        | 1 | 8 | duplicate object key \"a\"",
            "`[1] x`                    | 1 | 5 | expected end of input after the value, found 'x'",
            "`[1]]`                     | 1 | 4 | expected end of input",
            "`[\n1,\n  x]`              | 3 | 3 | expected a JSON value",
            "`/* c */ 1`                | 1 | 1 | expected a JSON value",
            "`{\"a\":1}//`              | 1 | 8 | expected end of input",
    })
    void rejectsMalformedInputNamingLineColumnAndExpectation(String text, int line, int column, String expected) {
        var e = assertThrows(JsonParseException.class, () -> Json.parse(text, Json.Limits.DEFAULT, "doc.json"));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertTrue(e.getMessage().startsWith("doc.json: line " + line + ", column " + column + ": "), e.getMessage());
        assertEquals(line, e.line());
        assertEquals(column, e.column());
    }

    @Test
    void rejectsRawControlCharacterInString() {
        var e = assertThrows(JsonParseException.class, () -> Json.parse("\"a\u0001b\""));
        assertTrue(e.getMessage().contains("control character U+0001 must be escaped"), e.getMessage());
        assertEquals(3, e.column());
    }

    @Test
    void deepNestingFailsAtTheLimitInsteadOfOverflowingTheStack() throws Exception {
        var limits = new Json.Limits(64, 1 << 20, 1 << 20, 100);
        assertInstanceOf(List.class, Json.parse("[".repeat(64) + "]".repeat(64), limits, null));
        var e = assertThrows(JsonParseException.class, () -> Json.parse("[".repeat(65) + "]".repeat(65), limits, null));
        assertTrue(e.getMessage().contains("nesting deeper than the limit of 64"), e.getMessage());
        assertEquals(65, e.column());
        // A million open brackets with default limits: an error at depth 513, not a StackOverflowError.
        var deep = assertThrows(JsonParseException.class, () -> Json.parse("[{\"a\":".repeat(500_000)));
        assertTrue(deep.getMessage().contains("nesting deeper than the limit of 512"), deep.getMessage());
    }

    @Test
    void sizeLimitsAreEnforced() {
        var limits = new Json.Limits(8, 100, 10, 5);
        var tooLong = assertThrows(JsonParseException.class, () -> Json.parse(" ".repeat(101), limits, "x"));
        assertTrue(tooLong.getMessage().contains("document has 101 characters, more than the limit of 100"));
        var str = assertThrows(JsonParseException.class, () -> Json.parse("\"" + "a".repeat(11) + "\"", limits, "x"));
        assertTrue(str.getMessage().contains("longer than the limit of 10"), str.getMessage());
        var escaped = assertThrows(JsonParseException.class, () -> Json.parse("\"" + "\\n".repeat(11) + "\"", limits, "x"));
        assertTrue(escaped.getMessage().contains("longer than the limit of 10"), escaped.getMessage());
        var num = assertThrows(JsonParseException.class, () -> Json.parse("123456", limits, "x"));
        assertTrue(num.getMessage().contains("number of 6 characters is longer than the limit of 5"), num.getMessage());
    }

    @Test
    void writesCompactAndPretty() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", "a\"b\\c\n\u0001\u2028é😀");
        m.put("n", 3L);
        m.put("x", 0.5);
        m.put("f", 0.1f);
        m.put("list", List.of(1, true, Map.of()));
        m.put("empty", List.of());
        m.put("none", null);
        m.put("ints", new int[] {1, 2});
        assertEquals("{\"name\":\"a\\\"b\\\\c\\n\\u0001\\u2028é😀\",\"n\":3,\"x\":0.5,\"f\":0.1,"
                + "\"list\":[1,true,{}],\"empty\":[],\"none\":null,\"ints\":[1,2]}", Json.write(m));
        assertEquals("""
                {
                  "n": 3,
                  "list": [
                    1,
                    {}
                  ]
                }""", Json.writePretty(mapOf("n", 3, "list", List.of(1, Map.of()))));
    }

    @Test
    void writerRejectsWhatJsonCannotHold() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Json.write(List.of(1.0, Double.NaN)))
                .getMessage().contains("at $[1]"));
        assertThrows(IllegalArgumentException.class, () -> Json.write(Map.of("a", Float.POSITIVE_INFINITY)));
        assertThrows(IllegalArgumentException.class, () -> Json.write(Map.of(1, 2)));
        assertThrows(IllegalArgumentException.class, () -> Json.write(new Object()));
        assertThrows(IllegalArgumentException.class, () -> Json.write("a\ud800b"));
    }

    @Test
    void randomDocumentsRoundTripThroughWriterAndParser() throws Exception {
        var rnd = new SplittableRandom(42);
        for (int i = 0; i < 200; i++) {
            Object doc = randomValue(rnd, 0);
            String seedInfo = "document " + i + " (seed 42)";
            assertEquals(doc, Json.parse(Json.write(doc)), seedInfo);
            assertEquals(doc, Json.parse(Json.writePretty(doc)), seedInfo);
        }
    }

    @Test
    void readsFilesAndJsonLinesWithFileLineNumbers(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("config.json");
        Files.write(f, ("\uFEFF{\"a\": [1, 2]}").getBytes(StandardCharsets.UTF_8));
        assertEquals(Map.of("a", List.of(1L, 2L)), Json.readObject(f));

        Path bad = dir.resolve("bad.json");
        Files.write(bad, new byte[] {'"', (byte) 0xC3, '"'});
        assertTrue(assertThrows(ModelFormatException.class, () -> Json.read(bad)).getMessage()
                .startsWith("bad.json: not valid UTF-8"));

        Path arr = dir.resolve("arr.json");
        Files.writeString(arr, "[1]");
        assertTrue(assertThrows(JsonParseException.class, () -> Json.readObject(arr)).getMessage()
                .contains("expected a JSON object at the top level, found array"));

        Path jl = dir.resolve("train.jsonl");
        Files.writeString(jl, "{\"text\": \"a\"}\n\n{\"text\": \"b\"}\r\n{\"text\": }\n");
        var e = assertThrows(JsonParseException.class, () -> Json.readLines(jl, Json.Limits.DEFAULT));
        assertEquals("train.jsonl: line 4, column 10: expected a JSON value (object, array, string, number, true, "
                + "false, null), found '}'", e.getMessage());
        Files.writeString(jl, "{\"text\": \"a\"}\n\n{\"text\": \"b\"}\r\n");
        assertEquals(List.of(Map.of("text", "a"), Map.of("text", "b")), Json.readLines(jl, Json.Limits.DEFAULT));
    }


    /** Random edits of a valid document: each result parses or fails with JsonParseException, nothing else. */
    @Test
    void mutatedDocumentsParseOrFailCleanly() throws Exception {
        String base = "[" + Json.write(randomValue(new SplittableRandom(1), 0))
                + ", {\"k\": [1, -2.5e3, \"\\u00e9\\n\", true, null]}]";
        assertInstanceOf(List.class, Json.parse(base));
        String alphabet = "{}[],:\"\\/-+.eE0123456789tfnul \n\u00e9\ud83d\ude00";
        var rnd = new SplittableRandom(77);
        int failures = 0;
        int parsed = 0;
        for (int i = 0; i < 2000; i++) {
            StringBuilder sb = new StringBuilder(base);
            for (int e = 1 + rnd.nextInt(3); e > 0; e--) {
                int at = rnd.nextInt(sb.length());
                char c = alphabet.charAt(rnd.nextInt(alphabet.length()));
                switch (rnd.nextInt(3)) {
                    case 0 -> sb.setCharAt(at, c);
                    case 1 -> sb.insert(at, c);
                    default -> sb.deleteCharAt(at);
                }
            }
            try {
                Json.parse(sb);
                parsed++;
            } catch (JsonParseException expected) {
                failures++;
            }
        }
        assertTrue(failures > 500 && parsed > 20, "rejected " + failures + ", parsed " + parsed);
    }

    private static Map<String, Object> mapOf(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    private static Object randomValue(SplittableRandom rnd, int depth) {
        int kind = rnd.nextInt(depth > 4 ? 5 : 7);
        return switch (kind) {
            case 0 -> null;
            case 1 -> rnd.nextBoolean();
            case 2 -> rnd.nextLong();
            case 3 -> (rnd.nextDouble() - 0.5) * Math.pow(10, rnd.nextInt(-300, 300));
            case 4 -> randomString(rnd);
            case 5 -> {
                List<Object> l = new ArrayList<>();
                for (int i = rnd.nextInt(5); i > 0; i--) {
                    l.add(randomValue(rnd, depth + 1));
                }
                yield l;
            }
            default -> {
                Map<String, Object> m = new LinkedHashMap<>();
                for (int i = rnd.nextInt(5); i > 0; i--) {
                    m.put(randomString(rnd), randomValue(rnd, depth + 1));
                }
                yield m;
            }
        };
    }

    private static String randomString(SplittableRandom rnd) {
        StringBuilder sb = new StringBuilder();
        for (int i = rnd.nextInt(12); i > 0; i--) {
            int cp = switch (rnd.nextInt(4)) {
                case 0 -> rnd.nextInt(0, 0x20);
                case 1 -> rnd.nextInt(0x20, 0x7F);
                case 2 -> rnd.nextInt(0xA0, 0xD800);
                default -> rnd.nextInt(0x10000, 0x10FFFF);
            };
            sb.appendCodePoint(cp);
        }
        return sb.toString();
    }
}
