package dev.jlora.engine.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.ref.ByteTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataTest {
    final ByteTokenizer tok = new ByteTokenizer();
    @TempDir
    Path dir;

    Path write(String... lines) throws IOException {
        Path p = dir.resolve("data.jsonl");
        Files.writeString(p, String.join("\n", lines) + "\n");
        return p;
    }

    /** The text of the tokens whose loss counts. */
    String targets(Example e) {
        var ids = new ArrayList<Integer>();
        for (int i = 0; i < e.tokens().length; i++) {
            if (e.loss()[i]) {
                ids.add(e.tokens()[i]);
            }
        }
        return tok.decode(ids.stream().mapToInt(Integer::intValue).toArray()) + (ids.getLast() == 2 ? "|EOS" : "");
    }

    @Test
    void threeShapesAndTheirLossMasks() throws IOException {
        var ex = JsonlDataset.read(write(
                "{\"text\": \"hi there\"}",
                "",
                "{\"prompt\": \"Q: 2+2? A:\", \"completion\": \" 4\"}",
                "{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"}, {\"role\": \"user\", \"content\": \"hello\"},"
                        + " {\"role\": \"assistant\", \"content\": \"hey\"}, {\"role\": \"user\", \"content\": \"bye\"},"
                        + " {\"role\": \"assistant\", \"content\": \"ciao\"}]}"), tok);
        assertEquals(3, ex.size());
        assertEquals(1, ex.get(0).tokens()[0], "BOS first");
        assertEquals("hi there|EOS", targets(ex.get(0)));
        assertEquals(10, ex.get(0).tokens().length, "BOS + 8 bytes + EOS");
        assertEquals(" 4|EOS", targets(ex.get(1)));
        assertEquals("data.jsonl:3", ex.get(1).source());
        // assistant content and its end-of-turn marker; never the user turns or the <|assistant|> header
        assertEquals("hey<|end|>ciao<|end|>", targets(ex.get(2)));
        assertEquals(1, ex.get(2).tokens()[0]);
        assertNotEquals(1, ex.get(2).tokens()[1], "BOS not doubled");
    }

    @Test
    void badLinesNameFileLineAndField() throws IOException {
        assertError("data.jsonl:2: field 'completion': missing", "{\"text\": \"ok\"}", "{\"prompt\": \"x\"}");
        assertError("data.jsonl:1: field 'text': expected a string, found number", "{\"text\": 5}");
        assertError("data.jsonl:1: field 'messages[1].role': expected \"system\", \"user\" or \"assistant\"",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"bot\", \"content\": \"b\"}]}");
        assertError("data.jsonl:1: field 'messages[0].content': expected a string, found null",
                "{\"messages\": [{\"role\": \"user\", \"content\": null}]}");
        assertError("data.jsonl:1: field 'messages': has no assistant turn",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}");
        assertError("data.jsonl:3: line 1, column", "{\"text\": \"a\"}", "", "{\"text\": \"a\",}");
        assertError("data.jsonl:1: expected an object with \"text\"", "{\"foo\": 1}");
        assertError("data.jsonl: no examples", "", "  ");
    }

    void assertError(String expected, String... lines) throws IOException {
        Path p = write(lines);
        var e = assertThrows(ModelFormatException.class, () -> JsonlDataset.read(p, tok));
        assertTrue(e.getMessage().startsWith(expected), "message: " + e.getMessage());
    }

    static Example ex(int n, int first) {
        int[] t = new int[n];
        boolean[] l = new boolean[n];
        for (int i = 0; i < n; i++) {
            t[i] = first + i;
            l[i] = i > 0;
        }
        return new Example(t, l, "x");
    }

    @Test
    void packingKeepsEveryTargetOnceAndSplitsLongExamples() {
        var examples = List.of(ex(3, 10), ex(4, 20), ex(12, 100), ex(2, 50));
        int T = 5;
        var rows = SequencePacker.pack(examples, T, 0);
        // [10 11 12 20 21 22] [23? no: 20..23 is 4 tokens, 3+4 > 6] → rows: {10,11,12}, {20..23}, 100..105, 105..110,
        // {110,111,50,51}
        assertEquals(5, rows.size());
        assertArrayEquals(new int[] {10, 11, 12, 0, 0, 0}, rows.get(0).tokens());
        assertArrayEquals(new int[] {105, 106, 107, 108, 109, 110}, rows.get(3).tokens());
        assertArrayEquals(new int[] {110, 111, 50, 51, 0, 0}, rows.get(4).tokens());
        var seen = new HashSet<Integer>();
        int targets = 0;
        for (var r : rows) {
            assertEquals(T + 1, r.tokens().length);
            assertTrue(!r.loss()[0]);
            var b = Batch.of(List.of(r), 1, T, 0);
            for (int t : b.targets()) {
                if (t >= 0) {
                    assertTrue(seen.add(t), "target " + t + " predicted twice");
                    targets++;
                }
            }
        }
        int want = 0;
        for (var e : examples) {
            want += e.targetCount();
        }
        assertEquals(want, targets, "every target exactly once");
    }

    @Test
    void samplerIsSeededVisitsEveryRowPerEpochAndResumesFromPosition() {
        var examples = new ArrayList<Example>();
        for (int i = 0; i < 20; i++) {
            examples.add(ex(6, i * 10 + 3));
        }
        var data = Dataset.of(examples, tok, 5, 0.1, 7);
        assertEquals(18, data.train().size());
        assertEquals(2, data.eval().size());
        assertEquals(1, data.evalBatches(4).size());
        assertEquals(10, data.evalBatches(4).getFirst().targetTokens(), "2 rows × 5 targets, padding rows empty");

        var s1 = new BatchSampler(data, 3, 11);
        var firsts = new HashSet<Integer>();
        var seq = new ArrayList<int[]>();
        for (int i = 0; i < 6; i++) {   // one epoch: 18 rows / 3
            var b = s1.next();
            seq.add(b.inputs());
            for (int r = 0; r < 3; r++) {
                firsts.add(b.inputs()[r * 5]);
            }
        }
        assertEquals(18, firsts.size(), "each row once per epoch");
        var s2 = new BatchSampler(data, 3, 11);
        for (int i = 0; i < 2; i++) {
            s2.next();
        }
        var pos = s2.position();
        var s3 = new BatchSampler(data, 3, 11);
        s3.seek(pos);
        for (int i = 2; i < 6; i++) {
            assertArrayEquals(seq.get(i), s3.next().inputs(), "resumed batch " + i);
        }
        var other = new BatchSampler(data, 3, 12);
        assertTrue(!java.util.Arrays.equals(seq.get(0), other.next().inputs()), "another seed, another order");
    }
}
