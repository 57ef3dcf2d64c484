package dev.jlora.examples;

import dev.jlora.api.Jlora;
import dev.jlora.api.Model;
import dev.jlora.api.Server;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Trains two small adapters (LoRA and DoRA) into one directory, serves the base model with both over the
 * OpenAI-compatible API in this JVM, and asks each of them (and the base model) for a completion over HTTP.
 *
 * <pre>examples/run ServeAdaptersExample [MODEL.gguf] [DATA.jsonl] [WORK_DIR] [STEPS]</pre>
 */
public final class ServeAdaptersExample {
    private ServeAdaptersExample() {}

    public static void main(String[] args) throws IOException, InterruptedException {
        Path file = Path.of(args.length > 0 ? args[0] : "models/stories260K.gguf");
        Path data = Path.of(args.length > 1 ? args[1] : "examples/data/stories.jsonl");
        Path work = args.length > 2 ? Path.of(args[2]) : Files.createTempDirectory("jlora-serve");
        int steps = args.length > 3 ? Integer.parseInt(args[3]) : 20;
        run(file, data, work, steps).forEach((name, body) -> System.out.println(name + " -> " + body));
    }

    /** The JSON response of /v1/completions for the base model and each adapter, by model name. */
    static Map<String, String> run(Path file, Path data, Path work, int steps) throws IOException, InterruptedException {
        Model model = Jlora.load(file);
        Path adapters = Files.createDirectories(work.resolve("adapters"));
        for (String method : new String[] {"lora", "dora"}) {
            model.fineTune().data(data).method(method).rank(4).steps(steps).learningRate(5e-3f).seqLen(64)
                    .run(work.resolve("runs").resolve(method))
                    .save(adapters.resolve(method + ".jlora"));      // the adapter's name is its file name
        }
        var answers = new LinkedHashMap<String, String>();
        // tag::serve[]
        try (Server server = model.serve(Server.Options.defaults().port(0).adapters(adapters).fp16KvCache(true));
             HttpClient http = HttpClient.newHttpClient()) {
            for (String name : new String[] {model.name(), "lora.jlora", "dora.jlora"}) {
                String body = "{\"model\": \"" + name + "\", \"prompt\": \"Once upon a time\", "
                        + "\"max_tokens\": 16, \"temperature\": 0}";
                HttpResponse<String> response = http.send(
                        HttpRequest.newBuilder(server.uri().resolve("/v1/completions"))
                                .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                        HttpResponse.BodyHandlers.ofString());
                answers.put(name, response.statusCode() + " " + response.body());
            }
        }
        // end::serve[]
        return answers;
    }
}
