package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.infer.GenerationConfig;
import dev.jlora.engine.infer.Generator;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.infer.SamplerConfig;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.tokenizer.ChatTemplate;
import dev.jlora.engine.serve.AdapterRegistry;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The OpenAI-compatible server over real HTTP on 127.0.0.1, compared with the Generator run in process. */
class ServeCommandTest {
    static final String KEY = "test-key-123";
    static final String BASE = "stories260K";

    @TempDir
    static Path tmp;

    static LlamaModel model;
    static OpenAiServer server;
    static HttpClient client;
    static Map<String, AdapterSet> direct;   // the same adapters, loaded in process

    @BeforeAll
    static void start() throws Exception {
        model = CliModels.load(CliRun.models().resolve("stories260K.gguf").toString(), null);
        Path dir = Files.createDirectories(tmp.resolve("adapters"));
        direct = new java.util.HashMap<>();
        for (int i = 1; i <= 2; i++) {
            var set = TrainableAdapterSet.lora(model.weights(), new LoraConfig(4, 8f, 0f, false,
                    Set.of(Target.Q, Target.V, Target.DOWN)), i);
            var rnd = new SplittableRandom(100 + i);
            for (Parameter p : set.parameters()) {
                for (int j = 0; j < p.value().length; j++) {
                    p.value()[j] = (float) rnd.nextDouble(-0.2, 0.2);   // B ≠ 0: the adapter changes the output
                }
            }
            Path path = dir.resolve("lora" + i);
            AdapterFiles.save(path, AdapterFiles.Format.PEFT, set, model.config(), BASE);
            direct.put("lora" + i, AdapterFiles.load(path, model));
        }
        direct.put(BASE, AdapterSet.NONE);
        Files.writeString(tmp.resolve("outside"), "not an adapter");
        Files.createSymbolicLink(dir.resolve("escape"), tmp.resolve("outside"));
        var registry = ServeCommand.registry(dir, model, 4, 1L << 30);
        server = new OpenAiServer(model, BASE, registry,
                new OpenAiServer.Settings("127.0.0.1", 0, KEY, 8, 64, 3, 3 * 512));
        client = HttpClient.newHttpClient();
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    static String expected(String name, String prompt, int maxTokens) {
        var g = new Generator(new InferenceSession(model, direct.get(name), 64), model.tokenizer());
        return g.generate(model.tokenizer().encode(prompt, true, false),
                new GenerationConfig(maxTokens, SamplerConfig.greedy(), List.of(), true), Generator.Listener.NONE).text();
    }

    static HttpRequest.Builder req(String path) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .header("Authorization", "Bearer " + KEY);
    }

    static HttpResponse<String> post(String path, String body) throws Exception {
        return client.send(req(path).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static String completionBody(String model, String prompt, int maxTokens, boolean stream) {
        return Json.write(Map.of("model", model, "prompt", prompt, "max_tokens", maxTokens, "temperature", 0,
                "stream", stream));
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> json(HttpResponse<String> r) throws Exception {
        return (Map<String, Object>) Json.parse(r.body());
    }

    @SuppressWarnings("unchecked")
    static String completionText(HttpResponse<String> r) throws Exception {
        assertEquals(200, r.statusCode(), r.body());
        var choice = (Map<String, Object>) ((List<Object>) json(r).get("choices")).getFirst();
        return (String) choice.get("text");
    }

    @Test
    void greedyCompletionsEqualTheInProcessGeneratorForBaseAndAdapter() throws Exception {
        for (String name : List.of(BASE, "lora1")) {
            var r = post("/v1/completions", completionBody(name, "Once upon a time", 24, false));
            assertEquals(expected(name, "Once upon a time", 24), completionText(r), name);
            assertEquals(name, json(r).get("model"));
        }
        assertNotEquals(expected(BASE, "Once upon a time", 24), expected("lora1", "Once upon a time", 24));
    }

    @Test
    @SuppressWarnings("unchecked")
    void streamingSendsTheSameTextAsServerSentEvents() throws Exception {
        var r = post("/v1/completions", completionBody("lora2", "The dog", 20, true));
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        var text = new StringBuilder();
        String[] events = r.body().split("\n\n");
        assertEquals("data: [DONE]", events[events.length - 1]);
        String finish = null;
        for (int i = 0; i < events.length - 1; i++) {
            assertTrue(events[i].startsWith("data: {"), events[i]);
            var chunk = (Map<String, Object>) Json.parse(events[i].substring(6));
            var choice = (Map<String, Object>) ((List<Object>) chunk.get("choices")).getFirst();
            text.append((String) choice.get("text"));
            finish = (String) choice.get("finish_reason");
        }
        assertEquals(expected("lora2", "The dog", 20), text.toString());
        assertTrue(finish != null, "the last chunk carries the finish reason");
    }

    @Test
    void concurrentRequestsOverSeveralAdaptersAreNotMixedUp() throws Exception {
        List<String> names = List.of("lora1", BASE, "lora2", "lora1", "lora2");
        List<String> prompts = List.of("Once upon a time", "Lily", "The cat", "The cat", "Once upon a time");
        List<CompletableFuture<HttpResponse<String>>> pending = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            pending.add(client.sendAsync(req("/v1/completions").POST(HttpRequest.BodyPublishers.ofString(
                    completionBody(names.get(i), prompts.get(i), 16, false))).build(), HttpResponse.BodyHandlers.ofString()));
        }
        for (int i = 0; i < names.size(); i++) {
            assertEquals(expected(names.get(i), prompts.get(i), 16), completionText(pending.get(i).get()),
                    names.get(i) + " / " + prompts.get(i));
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void chatCompletionUsesTheModelsChatTemplate() throws Exception {
        String body = Json.write(Map.of("model", "lora1", "max_tokens", 12, "temperature", 0,
                "messages", List.of(Map.of("role", "user", "content", "Tell a story"))));
        var r = post("/v1/chat/completions", body);
        assertEquals(200, r.statusCode(), r.body());
        var choice = (Map<String, Object>) ((List<Object>) json(r).get("choices")).getFirst();
        String prompt = model.tokenizer().chatTemplate().render(List.of(new ChatTemplate.Message("user", "Tell a story")), true);
        var g = new Generator(new InferenceSession(model, direct.get("lora1"), 128), model.tokenizer());
        String want = g.generate(model.tokenizer().encode(prompt, true, true),
                new GenerationConfig(12, SamplerConfig.greedy(), List.of(), true), Generator.Listener.NONE).text();
        assertEquals(want, ((Map<String, Object>) choice.get("message")).get("content"));
        assertEquals("chat.completion", json(r).get("object"));

        // The same request streamed: a role delta first, then content deltas that add up to the same text.
        String streamed = Json.write(Map.of("model", "lora1", "max_tokens", 12, "temperature", 0, "stream", true,
                "messages", List.of(Map.of("role", "user", "content", "Tell a story"))));
        var sr = post("/v1/chat/completions", streamed);
        assertEquals(200, sr.statusCode(), sr.body());
        String[] events = sr.body().split("\n\n");
        assertEquals("data: [DONE]", events[events.length - 1]);
        var text = new StringBuilder();
        for (int i = 0; i < events.length - 1; i++) {
            var chunk = (Map<String, Object>) Json.parse(events[i].substring("data: ".length()));
            assertEquals("chat.completion.chunk", chunk.get("object"));
            var delta = (Map<String, Object>) ((Map<String, Object>) ((List<Object>) chunk.get("choices")).getFirst()).get("delta");
            if (i == 0) {
                assertEquals(Map.of("role", "assistant"), delta);
            } else if (delta.containsKey("content")) {
                text.append((String) delta.get("content"));
            }
        }
        assertEquals(want, text.toString());
    }

    @SuppressWarnings("unchecked")
    static void assertError(HttpResponse<String> r, int status, String param, String messagePart) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        var err = (Map<String, Object>) json(r).get("error");
        assertEquals(param, err.get("param"), r.body());
        assertTrue(((String) err.get("message")).contains(messagePart), r.body());
        assertTrue(err.containsKey("type") && err.containsKey("code"), r.body());
    }

    @Test
    void badRequestsGetOpenAiErrors() throws Exception {
        assertError(post("/v1/completions", "{\"model\": "), 400, null, "malformed JSON");
        assertError(post("/v1/completions", Json.write(Map.of("model", BASE, "prompt", "x", "temperature", 7))),
                400, "temperature", "[0, 2]");
        assertError(post("/v1/completions", Json.write(Map.of("model", BASE, "prompt", "x", "max_tokens", 65))),
                400, "max_tokens", "1..64");
        assertError(post("/v1/completions", Json.write(Map.of("model", BASE, "prompt", 3))), 400, "prompt", "string");
        assertError(post("/v1/completions", Json.write(Map.of("model", BASE, "prompt", "x", "n", 2))), 400, "n", "n = 1");
        assertError(post("/v1/completions", Json.write(Map.of("model", BASE, "prompt", "x", "logprobs", 3))),
                400, "logprobs", "not supported");
        assertError(post("/v1/completions", Json.write(Map.of("model", "nope", "prompt", "x"))), 404, "model", "does not exist");
        assertError(post("/v1/chat/completions", Json.write(Map.of("model", BASE, "messages", List.of()))),
                400, "messages", "non-empty");
        assertError(post("/v1/completions", "{\"model\":\"" + BASE + "\",\"prompt\":\"" + "a".repeat(OpenAiServer.MAX_BODY_BYTES) + "\"}"),
                413, null, "larger than");
    }

    @Test
    void pathEscapingAdapterNamesAreRejected() throws Exception {
        for (String bad : List.of("../outside", "lora1/../../outside", "/etc/passwd", "..")) {
            assertError(post("/v1/completions", Json.write(Map.of("model", bad, "prompt", "x"))), 400, "model",
                    "invalid adapter name");
        }
        assertError(post("/v1/completions", Json.write(Map.of("model", "escape", "prompt", "x"))), 400, "model",
                "outside the adapters directory");
        assertError(post("/admin/adapters/load", Json.write(Map.of("name", "../outside"))), 400, "name",
                "invalid adapter name");
    }

    @Test
    void apiKeyIsRequiredExceptForHealth() throws Exception {
        var noKey = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/models"))
                .GET().build(), HttpResponse.BodyHandlers.ofString());
        assertError(noKey, 401, null, "missing API key");
        var wrong = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/completions"))
                .header("Authorization", "Bearer test-key-124")
                .POST(HttpRequest.BodyPublishers.ofString(completionBody(BASE, "x", 2, false))).build(),
                HttpResponse.BodyHandlers.ofString());
        assertError(wrong, 401, null, "invalid API key");
        var health = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/health"))
                .GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, health.statusCode());
        assertEquals("{\"status\":\"ok\"}", health.body());
    }

    @Test
    void modelsAdminAndMetrics() throws Exception {
        var models = client.send(req("/v1/models").GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, models.statusCode());
        for (String id : List.of(BASE, "lora1", "lora2")) {
            assertTrue(models.body().contains("\"id\":\"" + id + "\""), models.body());
        }
        var load = post("/admin/adapters/load", Json.write(Map.of("name", "lora2")));
        assertEquals(200, load.statusCode(), load.body());
        var unload = post("/admin/adapters/unload", Json.write(Map.of("name", "lora2")));
        assertEquals("{\"name\":\"lora2\",\"unloaded\":true}", unload.body());
        assertError(post("/admin/adapters/load", Json.write(Map.of("name", "missing"))), 404, "model", "does not exist");
        post("/v1/completions", completionBody(BASE, "Hi", 3, false));
        var metrics = client.send(req("/metrics").GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, metrics.statusCode());
        for (String name : List.of("jlora_requests_total ", "jlora_tokens_generated_total ", "jlora_queue_length ",
                "jlora_adapters_resident ", "jlora_adapter_cache_hits_total ", "jlora_adapter_cache_misses_total ",
                "jlora_memory_pages_total ", "jlora_kv_pages_used ", "jlora_adapter_pages_used ",
                "jlora_preemptions_total ")) {
            assertTrue(metrics.body().lines().anyMatch(l -> l.startsWith(name) && l.matches(".* [0-9]+")), metrics.body());
        }
        var m = metrics.body().lines().filter(l -> l.startsWith("jlora_requests_total ")).findFirst().orElseThrow();
        assertTrue(Long.parseLong(m.substring(m.indexOf(' ') + 1)) >= 1, m);
    }

    @Test
    void serveCommandReportsAMissingAdaptersDirectoryInOneLine() {
        var r = CliRun.of("serve", "demo", "--adapters", tmp.resolve("no-such-dir").toString(), "--port", "0");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().strip().endsWith("the adapters directory does not exist"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }
}
