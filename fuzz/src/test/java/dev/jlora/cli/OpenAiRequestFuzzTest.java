package dev.jlora.cli;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.model.LlamaModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;

/**
 * The OpenAI-compatible server's request handling, over real HTTP on the demo model: any body on the completion
 * and chat endpoints must be answered with success or a 4xx OpenAI-shaped error in JSON — never a 5xx, a hang
 * (10 s per request) or a dead server. Lives in the cli package because the server class is package-private.
 */
class OpenAiRequestFuzzTest {
    private static final OpenAiServer SERVER;
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static final Set<Integer> ALLOWED = Set.of(200, 400, 404, 413, 429, 503);

    static {
        try {
            Path demo = Path.of(System.getProperty("jlora.models", "../shared/models")).resolve("stories260K.gguf");
            LlamaModel model = CliModels.load(demo.toString(), null);
            SERVER = new OpenAiServer(model, "demo", null,
                    new OpenAiServer.Settings("127.0.0.1", 0, null, 8, 16, 2, 2 * 256));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @FuzzTest(maxDuration = "10s")
    @DictionaryEntries({"\"prompt\"", "\"messages\"", "\"role\"", "\"content\"", "\"user\"", "\"system\"",
            "\"assistant\"", "\"max_tokens\"", "\"temperature\"", "\"top_p\"", "\"top_k\"", "\"stream\"", "\"stop\"",
            "\"seed\"", "\"model\"", "\"demo\"", "\"n\"", "true", "null", "1e308", "-1", "[", "]", "{", "}"})
    void request(FuzzedDataProvider in) throws Exception {
        String path = in.consumeBoolean() ? "/v1/chat/completions" : "/v1/completions";
        byte[] body = in.consumeRemainingAsBytes();
        var req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + SERVER.port() + path))
                .timeout(Duration.ofSeconds(10)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
        HttpResponse<String> r = CLIENT.send(req, HttpResponse.BodyHandlers.ofString());
        if (!ALLOWED.contains(r.statusCode())) {
            throw new AssertionError("status " + r.statusCode() + " for " + path + ": " + r.body());
        }
        boolean sse = r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream");
        if (!sse) {
            Json.parseObject(r.body(), Json.Limits.DEFAULT, "response");   // every non-stream answer is a JSON object
        }
    }
}
