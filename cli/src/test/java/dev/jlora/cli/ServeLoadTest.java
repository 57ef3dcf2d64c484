package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import dev.jlora.engine.train.AdapterFile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A bounded load test over real HTTP on loopback: 100 adapters on disk (more than the server keeps resident), 32
 * concurrent clients and 160 greedy requests over random (adapter, prompt) pairs. Every response must equal the
 * single-request output of {@link Generator} for its adapter: no request lost, none mixed up with another's adapter,
 * whatever the batch composition and adapter evictions. Then the queue limit: requests past it get 503 with
 * Retry-After.
 */
class ServeLoadTest {
    static final int ADAPTERS = 100, CLIENTS = 32, REQUESTS = 160, MAX_TOKENS = 12;
    static final List<String> PROMPTS = List.of("Once upon a time", "The little dog", "Lily and Tom", "One day");

    @TempDir
    static Path dir;

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void concurrentRequestsOverAHundredAdaptersAreAllAnsweredCorrectly() throws Exception {
        LlamaModel model = CliModels.load(CliRun.models().resolve("stories260K.gguf").toString(), null);
        Path adapters = Files.createDirectories(dir.resolve("adapters"));
        var inProcess = new ConcurrentHashMap<String, AdapterSet>();
        for (int i = 0; i < ADAPTERS; i++) {
            var set = TrainableAdapterSet.lora(model.weights(), new LoraConfig(2, 4f, 0f, false,
                    Set.of(Target.Q, Target.V)), i);
            var rnd = new SplittableRandom(1000 + i);
            for (Parameter p : set.parameters()) {
                for (int j = 0; j < p.value().length; j++) {
                    p.value()[j] = (float) rnd.nextDouble(-0.3, 0.3);   // B ≠ 0: each adapter changes the output
                }
            }
            String name = "a" + i + ".jlora";   // served under its file name
            AdapterFile.save(adapters.resolve(name), set, Map.of("base_model", "stories260K"));
            inProcess.put(name, set);
        }
        // 24 resident adapters at most: the run loads, evicts and reloads while requests are in flight
        var registry = ServeCommand.registry(adapters, model, 24, 1L << 30);
        try (var server = new OpenAiServer(model, "demo", registry,
                new OpenAiServer.Settings("127.0.0.1", 0, null, REQUESTS, 64, 16, 16 * 64L))) {
            var client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
            var rnd = new SplittableRandom(7);
            var expectedCache = new ConcurrentHashMap<String, String>();
            List<Future<String>> results = new ArrayList<>();
            try (var pool = Executors.newFixedThreadPool(CLIENTS)) {
                for (int r = 0; r < REQUESTS; r++) {
                    String name = "a" + rnd.nextInt(ADAPTERS) + ".jlora", prompt = PROMPTS.get(rnd.nextInt(PROMPTS.size()));
                    results.add(pool.submit(() -> {
                        String body = Json.write(Map.of("model", name, "prompt", prompt, "max_tokens", MAX_TOKENS,
                                "temperature", 0));
                        var resp = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                                        + "/v1/completions")).timeout(Duration.ofSeconds(120))
                                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
                        String got = ServeCommandTest.completionText(resp);
                        String want = expectedCache.computeIfAbsent(name + "\u0000" + prompt,
                                k -> greedy(model, inProcess.get(name), prompt));
                        return want.equals(got) ? null : name + " / " + prompt + ": expected «" + want + "» got «" + got + "»";
                    }));
                }
                var wrong = new ArrayList<String>();
                for (Future<String> f : results) {
                    String problem = f.get(240, TimeUnit.SECONDS);
                    if (problem != null) {
                        wrong.add(problem);
                    }
                }
                assertEquals(List.of(), wrong, "every response equals its adapter's single-request output");
            }
            assertEquals(REQUESTS, results.size());
            assertTrue(registry.misses() > 24, "adapters were evicted and reloaded under load: " + registry.misses());
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void requestsPastTheQueueLimitGet503WithRetryAfter() throws Exception {
        LlamaModel model = CliModels.load(CliRun.models().resolve("stories260K.gguf").toString(), null);
        // one running request, no queue: a second request while the first decodes must be turned away
        try (var server = new OpenAiServer(model, "demo", null,
                new OpenAiServer.Settings("127.0.0.1", 0, null, 0, 480, 1, 512))) {
            var client = HttpClient.newHttpClient();
            URI completions = URI.create("http://127.0.0.1:" + server.port() + "/v1/completions");
            String longBody = Json.write(Map.of("model", "demo", "prompt", "Once", "max_tokens", 480,
                    "temperature", 0));
            var first = client.sendAsync(HttpRequest.newBuilder(completions)
                    .POST(HttpRequest.BodyPublishers.ofString(longBody)).build(), HttpResponse.BodyHandlers.ofString());
            URI metrics = URI.create("http://127.0.0.1:" + server.port() + "/metrics");
            while (!client.send(HttpRequest.newBuilder(metrics).build(), HttpResponse.BodyHandlers.ofString()).body()
                    .contains("jlora_running_requests 1")) {
                assertTrue(!first.isDone(), "the first request ended before a second one could be sent");
                Thread.sleep(1);
            }
            var second = client.send(HttpRequest.newBuilder(completions).POST(HttpRequest.BodyPublishers.ofString(
                    Json.write(Map.of("model", "demo", "prompt", "Lily", "max_tokens", 4)))).build(),
                    HttpResponse.BodyHandlers.ofString());
            ServeCommandTest.assertError(second, 503, null, "queue");
            assertTrue(second.headers().firstValue("Retry-After").isPresent(), second.headers().map().toString());
            assertEquals(200, first.get().statusCode(), "the running request is not disturbed");
        }
    }

    static String greedy(LlamaModel model, AdapterSet adapters, String prompt) {
        var g = new Generator(new InferenceSession(model, adapters, 64), model.tokenizer());
        return g.generate(model.tokenizer().encode(prompt, true, false),
                new GenerationConfig(MAX_TOKENS, SamplerConfig.greedy(), List.of(), true), Generator.Listener.NONE).text();
    }
}
