package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code scripts/serve-smoke.sh} (bash + curl) against a real {@code jlora serve demo} process on an ephemeral
 * loopback port: the script's checks must pass, and its greedy completion and streamed text must equal
 * {@code jlora generate --adapter} on the same prompt. curl is required: without it this test fails (CI installs it,
 * see .ci/run), it is never skipped.
 */
class ServeSmokeScriptTest {
    static final String KEY = "smoke-key";
    static final String PROMPT = "Once upon a time";
    static final int TOKENS = 16;
    static final long TIMEOUT_S = 120;
    static final Pattern LISTENING = Pattern.compile("jlora serve: model 'demo' on http://127\\.0\\.0\\.1:(\\d+)");

    @TempDir
    Path dir;

    @Test
    void smokeScriptPassesAndMatchesJloraGenerate() throws Exception {
        Path repo = Path.of(System.getProperty("jlora.repo", "..")).toAbsolutePath().normalize();
        Path script = repo.resolve("scripts/serve-smoke.sh");
        assertTrue(Files.isRegularFile(script), "no " + script);
        assertTrue(onPath("curl"), "curl is not installed: ServeSmokeScriptTest runs scripts/serve-smoke.sh, which "
                + "needs it (apt-get install curl; .ci/run installs it)");

        Path adapters = Files.createDirectories(dir.resolve("adapters"));
        LlamaModel model = CliModels.load("demo", null);
        var set = TrainableAdapterSet.lora(model.weights(), new LoraConfig(4, 8f, 0f, false,
                Set.of(Target.Q, Target.V, Target.DOWN)), 3);
        var rnd = new SplittableRandom(103);
        for (Parameter p : set.parameters()) {
            for (int j = 0; j < p.value().length; j++) {
                p.value()[j] = (float) rnd.nextDouble(-0.2, 0.2);   // B ≠ 0: the adapter changes the output
            }
        }
        Path adapter = adapters.resolve("story-lora");
        AdapterFiles.save(adapter, AdapterFiles.Format.PEFT, set, model.config(), "demo");

        Process server = startServer(repo, adapters);
        try {
            int port = awaitPort(server);
            Process smoke = new ProcessBuilder("bash", script.toString(), "http://127.0.0.1:" + port, KEY, "story-lora",
                    PROMPT, Integer.toString(TOKENS)).redirectErrorStream(true).start();
            CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> readAll(smoke));
            assertTrue(smoke.waitFor(TIMEOUT_S, TimeUnit.SECONDS), "serve-smoke.sh did not finish in " + TIMEOUT_S + " s");
            String out = output.get();
            assertEquals(0, smoke.exitValue(), out);
            assertTrue(out.contains("serve-smoke: all 8 checks passed"), out);

            String want = generate(adapter);
            assertNotEquals(generate(null), want, "the adapter changes the greedy output");
            assertEquals(want, completionText(line(out, "completion-body: ")), "greedy completion through curl");
            assertEquals(want, streamedText(out), "streamed through curl -N");
        } finally {
            server.destroy();   // SIGTERM: the shutdown hook closes the server
            if (!server.waitFor(30, TimeUnit.SECONDS)) {
                server.destroyForcibly();
            }
        }
    }

    /** {@code jlora serve demo} in its own JVM with this test's class path, on a free port. */
    static Process startServer(Path repo, Path adapters) throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow(
                () -> new IllegalStateException("cannot find the running java binary"));
        var cmd = List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), "dev.jlora.cli.Main", "serve", "demo",
                "--adapters", adapters.toString(), "--port", "0", "--api-key", KEY, "--max-tokens-limit", "64");
        return new ProcessBuilder(cmd).directory(repo.toFile()).redirectErrorStream(true).start();
    }

    /** Reads the server's output until it says where it listens (the rest is drained so the pipe never fills). */
    static int awaitPort(Process server) throws Exception {
        var reader = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
        var seen = new StringBuilder();
        CompletableFuture<Integer> port = CompletableFuture.supplyAsync(() -> {
            try {
                for (String l = reader.readLine(); l != null; l = reader.readLine()) {
                    seen.append(l).append('\n');
                    Matcher m = LISTENING.matcher(l);
                    if (m.find()) {
                        Thread.ofVirtual().start(() -> readAll(server));
                        return Integer.parseInt(m.group(1));
                    }
                }
                throw new IllegalStateException("jlora serve ended without listening:\n" + seen);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        return port.get(TIMEOUT_S, TimeUnit.SECONDS);
    }

    static String readAll(Process p) {
        try {
            return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static boolean onPath(String command) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, command))) {
                return true;
            }
        }
        return false;
    }

    /** What {@code jlora generate} prints after the prompt (greedy, same prompt and length as the script). */
    static String generate(Path adapter) {
        List<String> args = new ArrayList<>(List.of("generate", "demo", "--prompt", PROMPT, "--max-tokens",
                Integer.toString(TOKENS), "--temperature", "0"));
        if (adapter != null) {
            args.addAll(List.of("--adapter", adapter.toString()));
        }
        var r = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith(PROMPT) && r.out().endsWith("\n"), r.out());
        return r.out().substring(PROMPT.length(), r.out().length() - 1);
    }

    static String line(String out, String prefix) {
        return out.lines().filter(l -> l.startsWith(prefix)).map(l -> l.substring(prefix.length())).findFirst()
                .orElseThrow(() -> new AssertionError("no '" + prefix + "' line in:\n" + out));
    }

    @SuppressWarnings("unchecked")
    static String completionText(String json) throws Exception {
        var choices = (List<Object>) ((Map<String, Object>) Json.parse(json)).get("choices");
        return (String) ((Map<String, Object>) choices.getFirst()).get("text");
    }

    /** The text of the script's "stream: data: {chunk}" lines, in order, up to data: [DONE]. */
    static String streamedText(String out) throws Exception {
        var text = new StringBuilder();
        for (String l : out.lines().filter(l -> l.startsWith("stream: data: ")).toList()) {
            String data = l.substring("stream: data: ".length());
            if (!data.equals("[DONE]")) {
                text.append(completionText(data));
            }
        }
        return text.toString();
    }
}
