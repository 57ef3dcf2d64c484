package dev.jlora.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.api.Generation;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs every example on the demo model (stories260K) with few steps, checking what each one is for. Examples use the
 * public API only ({@code dev.jlora.api}); this is the test that keeps them, and docs/EMBEDDING.md, from rotting.
 */
class ExamplesTest {
    /** The README golden output of stories260K (greedy, 60 tokens, verified against llama.cpp). */
    static final String GOLDEN = ", there was a little girl named Lily. She loved to play outside in the park. One day, "
            + "she saw a big, red ball. She wanted to play with it, but it was too high.\nLily";

    static final Path MODEL = Path.of(System.getProperty("jlora.models")).resolve("stories260K.gguf");
    static final Path DATA = Path.of("data/stories.jsonl");

    @Test
    void generateStreamsTheGoldenStory() throws Exception {
        var out = new ByteArrayOutputStream();
        Generation g = withStdout(out, () -> GenerateExample.run(MODEL, "Once upon a time"));
        assertEquals(GOLDEN, g.text());
        assertEquals(60, g.generatedTokens());
        String printed = out.toString(StandardCharsets.UTF_8);
        assertTrue(printed.startsWith("stories260K.gguf: llama, 5 layers, dim 64"), printed);
        assertTrue(printed.endsWith("Once upon a time" + GOLDEN), "streamed text must equal the result: " + printed);
    }

    @Test
    void fineTuneLowersTheLossAndItsAdapterReloadsForChat(@TempDir Path dir) throws Exception {
        var out = new ByteArrayOutputStream();
        var o = withStdout(out, () -> FineTuneExample.run(MODEL, DATA, dir, 20));
        assertTrue(o.lastLoss() < o.firstLoss() - 0.3, "20 steps at lr 5e-3 must lower the training loss by > 0.3 nats: "
                + o.firstLoss() + " -> " + o.lastLoss());
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("step 20/20 loss"), out.toString(StandardCharsets.UTF_8));
        assertTrue(Files.isRegularFile(dir.resolve("adapter.jlora")));
        assertTrue(Files.isRegularFile(dir.resolve("peft/adapter_config.json")));
        assertTrue(Files.isRegularFile(dir.resolve("adapter.gguf")));
        assertFalse(o.base().equals(o.adapted()), "the adapter must change the greedy completion");
        // A [r × in] + B [out × r] per target: q, o are 64 → 64; k, v are 64 → 32 (4 KV heads × head size 8).
        assertEquals(5L * (2 * (8 * 64 + 64 * 8) + 2 * (8 * 64 + 32 * 8)), o.adapter().parameterCount(),
                "rank 8 on q,k,v,o of 5 layers");

        // The saved adapter, loaded back, gives the same greedy text as the one in memory.
        var chatOut = new ByteArrayOutputStream();
        Generation reply = withStdout(chatOut, () -> ChatWithAdapterExample.run(MODEL, dir.resolve("adapter.jlora"),
                "Tell me a story."));
        assertTrue(reply.generatedTokens() > 0);
        System.out.printf("fine-tune example: loss %.3f -> %.3f%n", o.firstLoss(), o.lastLoss());
        assertEquals(reply.text(), chatOut.toString(StandardCharsets.UTF_8), "streamed reply equals the result");
    }

    @Test
    void readmeSnippetFineTunesAnNf4ModelAndGeneratesWithTheAdapter(@TempDir Path dir) throws Exception {
        var out = new ByteArrayOutputStream();
        var adapter = withStdout(out, () -> ReadmeExample.run(MODEL, DATA, dir, 2));
        assertEquals("lora", adapter.method());
        assertTrue(Files.isRegularFile(dir.resolve("adapter.jlora")));
        assertFalse(out.toString(StandardCharsets.UTF_8).isBlank(), "the adapted model printed nothing");
    }

    @Test
    void serverAnswersForTheBaseModelAndEachAdapter(@TempDir Path dir) throws Exception {
        Map<String, String> answers = ServeAdaptersExample.run(MODEL, DATA, dir, 3);
        assertEquals(3, answers.size());
        for (var e : answers.entrySet()) {
            assertTrue(e.getValue().startsWith("200 "), e.getKey() + ": " + e.getValue());
            assertTrue(e.getValue().contains("\"text\""), e.getKey() + ": " + e.getValue());
        }
        // The base model's greedy 16 tokens are the golden story's start.
        assertTrue(answers.get("stories260K.gguf").contains(", there was a little girl named Lily"),
                answers.get("stories260K.gguf"));
    }

    @Test
    void compareMethodsReportsEachMethodsSizeAndEvalLoss(@TempDir Path dir) throws Exception {
        var results = CompareMethodsExample.run(MODEL, DATA, dir, 3);
        assertEquals(java.util.List.of("lora", "dora", "vera"), java.util.List.copyOf(results.keySet()));
        for (var r : results.values()) {
            assertTrue(Double.isFinite(r.evalLoss()) && r.evalLoss() > 0, results.toString());
        }
        // DoRA adds a magnitude vector per output row to LoRA's factors; VeRA trains only two scaling vectors.
        assertTrue(results.get("dora").parameters() > results.get("lora").parameters(), results.toString());
        assertTrue(results.get("vera").parameters() < results.get("lora").parameters(), results.toString());
    }

    interface Body<T> {
        T run() throws Exception;
    }

    static <T> T withStdout(ByteArrayOutputStream buffer, Body<T> body) throws Exception {
        PrintStream saved = System.out;
        System.setOut(new PrintStream(buffer, true, StandardCharsets.UTF_8));
        try {
            return body.run();
        } finally {
            System.setOut(saved);
        }
    }
}
