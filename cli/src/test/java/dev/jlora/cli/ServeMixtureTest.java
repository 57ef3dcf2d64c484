package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.io.Json;
import dev.jlora.engine.model.LlamaModel;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Adapters that are not one delta per linear, trained from the CLI on the demo model and served: MixLoRA (FFN
 * experts), X-LoRA (over two trained LoRAs) and a LoRA trained with base tensors (embedding, norms, head). Greedy
 * output through the server, with requests sent together with plain LoRA ones, must equal {@code jlora generate
 * --adapter} with the same file (the reference: one session, the adapter's own forward).
 */
class ServeMixtureTest {
    static final String PROMPT = "Once upon a time";
    static final int TOKENS = 12;

    @TempDir
    static Path dir;

    static OpenAiServer server;
    static HttpClient client;
    static Path adapters;

    static void train(String out, String... extra) {
        List<String> args = new ArrayList<>(List.of("train", "demo", "--data", dir.resolve("d.jsonl").toString(),
                "--out", dir.resolve(out).toString(), "--steps", "2", "--seq-len", "16", "--batch-size", "1",
                "--eval-fraction", "0", "--no-plot", "--lr", "0.05"));
        args.addAll(Arrays.asList(extra));
        var r = TrainCommandTest.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
    }

    @BeforeAll
    static void trainAndServe() throws Exception {
        Files.writeString(dir.resolve("d.jsonl"), """
                {"text": "Once upon a time, there was a cat named Tom. Tom liked milk."}
                {"text": "One day, Tom saw a bird. The bird sang a song."}
                """);
        train("a", "--rank", "2", "--seed", "1", "--targets", "q,v");
        train("b", "--rank", "4", "--seed", "2", "--targets", "q,v");
        train("mix", "--rank", "4", "--targets", "q,v,down", "--method", "mixlora", "--method-arg", "num_experts=3");
        train("x", "--targets", "q,v", "--method", "xlora", "--method-arg",
                "adapters=" + dir.resolve("a/adapter.jlora") + "," + dir.resolve("b/adapter.jlora"));
        train("based", "--rank", "2", "--targets", "q,v", "--train-base", "embed,norms,head");
        adapters = Files.createDirectories(dir.resolve("adapters"));
        for (String[] e : new String[][] {{"a", "lora-a"}, {"mix", "mixlora"}, {"x", "xlora"}, {"based", "trained-base"}}) {
            Files.copy(dir.resolve(e[0]).resolve("adapter.jlora"), adapters.resolve(e[1] + ".jlora"));
        }
        LlamaModel model = CliModels.load("demo", null);
        server = new OpenAiServer(model, "demo", ServeCommand.registry(adapters, model, 8, 1L << 30),
                new OpenAiServer.Settings("127.0.0.1", 0, null, 16, 64, 8, 8 * 512));
        client = HttpClient.newHttpClient();
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
        if (client != null) {
            client.close();
        }
    }

    /** What {@code jlora generate --adapter} prints after the prompt. */
    static String generate(String adapter) {
        List<String> args = new ArrayList<>(List.of("generate", "demo", "--prompt", PROMPT, "--max-tokens",
                Integer.toString(TOKENS), "--temperature", "0"));
        if (adapter != null) {
            args.addAll(List.of("--adapter", adapters.resolve(adapter).toString()));
        }
        var r = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith(PROMPT) && r.out().endsWith("\n"), r.out());
        return r.out().substring(PROMPT.length(), r.out().length() - 1);
    }

    @SuppressWarnings("unchecked")
    static String text(HttpResponse<String> r) throws Exception {
        assertEquals(200, r.statusCode(), r.body());
        var choices = (List<Object>) ((Map<String, Object>) Json.parse(r.body())).get("choices");
        return (String) ((Map<String, Object>) choices.getFirst()).get("text");
    }

    @Test
    void servedMixturesAndTrainedBaseEqualJloraGenerateInAMixedBatch() throws Exception {
        List<String> names = List.of("lora-a.jlora", "mixlora.jlora", "xlora.jlora", "trained-base.jlora", "xlora.jlora",
                "lora-a.jlora", "mixlora.jlora");
        List<CompletableFuture<HttpResponse<String>>> pending = new ArrayList<>();
        for (String name : names) {
            String body = Json.write(Map.of("model", name, "prompt", PROMPT, "max_tokens", TOKENS, "temperature", 0));
            pending.add(client.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                    + "/v1/completions")).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString()));
        }
        String base = generate(null);
        for (int i = 0; i < names.size(); i++) {
            String want = generate(names.get(i));
            assertEquals(want, text(pending.get(i).get()), names.get(i));
            // Each adapter changes the output, so serving it as the base model (or without its trained tensors)
            // could not pass.
            assertNotEquals(base, want, names.get(i) + " generates what the base model does");
        }
    }
}
