package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.io.Json;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.serve.ServeListener;
import dev.jlora.engine.serve.ServeResult;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Clients that disconnect, over real HTTP on 127.0.0.1, against a server with one running slot: the next request can
 * only run once the slot is free. Events are ordered with latches through {@link OpenAiServer.Observer}: the
 * scheduler thread is held inside the disconnecting request's listener until the server has noticed the client is
 * gone, so no test depends on how fast generation runs.
 */
class ServeDisconnectTest {
    static final String KEY = "k";
    static final String BASE = "stories260K";
    static final long WAIT_SECONDS = 60;

    static OpenAiServer server;
    static HttpClient client;   // for the requests around the disconnecting ones

    @BeforeAll
    static void start() throws Exception {
        LlamaModel model = CliModels.load(CliRun.models().resolve("stories260K.gguf").toString(), null);
        server = new OpenAiServer(model, BASE, null, new OpenAiServer.Settings("127.0.0.1", 0, KEY, 4, 400, 1, 512));
        client = HttpClient.newHttpClient();
    }

    @AfterEach
    void stopWatching() {
        server.observer = new OpenAiServer.Observer() {};
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

    /**
     * Watches the first generation request after it is installed: holds the scheduler in that request's
     * {@code holdAtText}-th text until {@code release} opens, and records how the request ended.
     */
    static final class Watch implements OpenAiServer.Observer {
        final int holdAtText;
        final CountDownLatch held = new CountDownLatch(1), gone = new CountDownLatch(1), finished = new CountDownLatch(1);
        final CountDownLatch release;
        final AtomicInteger texts = new AtomicInteger(), textsAfterGone = new AtomicInteger(), requests = new AtomicInteger();
        final AtomicReference<ServeResult> result = new AtomicReference<>();
        final AtomicReference<String> problem = new AtomicReference<>();

        /** Holds at text {@code holdAtText} until {@code release} opens; null: until the client is noticed gone. */
        Watch(int holdAtText, CountDownLatch release) {
            this.holdAtText = holdAtText;
            this.release = release == null ? gone : release;
        }

        @Override
        public ServeListener listener(ServeListener inner) {
            if (requests.getAndIncrement() > 0) {
                return inner;
            }
            return new ServeListener() {
                @Override public void onText(String text) {
                    inner.onText(text);
                    if (gone.getCount() == 0) {
                        textsAfterGone.incrementAndGet();
                    }
                    if (texts.incrementAndGet() == holdAtText) {
                        held.countDown();
                        try {
                            if (!release.await(WAIT_SECONDS, TimeUnit.SECONDS)) {
                                problem.set("the scheduler was held " + WAIT_SECONDS + " s and never released");
                            }
                        } catch (InterruptedException e) {
                            problem.set("interrupted");
                        }
                    }
                }
                @Override public void onFinish(ServeResult r) {
                    // recorded before the server can see the result (inner), which it then fails to write and
                    // reports the client gone: the test reads the result on that signal
                    result.set(r);
                    inner.onFinish(r);
                    finished.countDown();
                }
                @Override public void onError(Exception e) {
                    inner.onError(e);
                    problem.set(e.toString());
                    finished.countDown();
                }
            };
        }

        @Override
        public void clientGone() {
            gone.countDown();
        }

        void await(CountDownLatch latch, String what) throws InterruptedException {
            assertTrue(latch.await(WAIT_SECONDS, TimeUnit.SECONDS), what + " did not happen within " + WAIT_SECONDS + " s");
        }
    }

    static String body(int maxTokens, boolean stream) {
        return Json.write(Map.of("model", BASE, "prompt", "Once upon a time", "max_tokens", maxTokens,
                "temperature", 0, "stream", stream));
    }

    static long metric(String name) throws Exception {
        var r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                .header("Authorization", "Bearer " + KEY).GET().build(), HttpResponse.BodyHandlers.ofString());
        String line = r.body().lines().filter(l -> l.startsWith(name + " ")).findFirst().orElseThrow(
                () -> new AssertionError("no " + name + " in /metrics:\n" + r.body()));
        return Long.parseLong(line.substring(name.length() + 1));
    }

    /** With one running slot, a request that completes proves the slot of the one before is free. */
    static void nextRequestRuns() throws Exception {
        var r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/completions"))
                .header("Authorization", "Bearer " + KEY).POST(HttpRequest.BodyPublishers.ofString(body(4, false)))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(0, metric("jlora_running_requests"));
    }

    /** A streaming client that reads the first chunk of a stream of 300 tokens and disconnects. */
    interface StreamingClient {
        void readFirstChunkAndLeave(String body) throws Exception;
    }

    /**
     * The stream is held at its second text until the server noticed the disconnect (a failed write of a text chunk
     * or of a keep-alive comment); then the request must end CANCELLED at the next step with no more text, far below
     * its max_tokens, and its slot must be free.
     */
    static void assertDisconnectCancels(StreamingClient client) throws Exception {
        long cancelled = metric("jlora_requests_cancelled_total"), gone = metric("jlora_client_disconnects_total");
        var w = new Watch(2, null);
        server.observer = w;
        client.readFirstChunkAndLeave(body(300, true));
        w.await(w.finished, "the end of the disconnected request");
        assertNull(w.problem.get());
        assertEquals(ServeResult.Finish.CANCELLED, w.result.get().finish());
        assertEquals(0, w.textsAfterGone.get(), "no step ran for the request after its client was noticed gone");
        assertTrue(w.result.get().completionTokens() < 300, w.result.get().toString());
        nextRequestRuns();
        assertEquals(cancelled + 1, metric("jlora_requests_cancelled_total"));
        assertEquals(gone + 1, metric("jlora_client_disconnects_total"));
    }

    @Test
    void httpClientThatClosesTheStreamFreesItsSlot() throws Exception {
        assertDisconnectCancels(body -> {
            try (var streaming = HttpClient.newHttpClient()) {   // its own, so that closing it closes the connection
                var r = streaming.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
                        + "/v1/completions")).header("Authorization", "Bearer " + KEY)
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofInputStream());
                assertEquals(200, r.statusCode());
                InputStream in = r.body();
                assertTrue(firstDataLine(new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)))
                        .startsWith("data: {"));
                in.close();
                streaming.shutdownNow();
            }
        });
    }

    @Test
    void rawSocketClosedMidStreamFreesItsSlot() throws Exception {
        assertDisconnectCancels(body -> {
            try (var socket = new Socket("127.0.0.1", server.port())) {
                send(socket, body);
                var reader = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
                assertEquals("HTTP/1.1 200 OK", reader.readLine());
                assertTrue(firstDataLine(reader).startsWith("data: {"));
            }
        });
    }

    /**
     * A non-streaming client that disconnects is not noticed while its request runs (its answer's first write is the
     * status line, sent with the result; the JDK server gives no other view of the socket): the request runs to its
     * end (max_tokens), the failed write of the answer counts the disconnect, and the slot is free afterwards.
     */
    @Test
    void nonStreamingClientThatDisconnectsRunsToItsEndThenFreesItsSlot() throws Exception {
        long cancelled = metric("jlora_requests_cancelled_total"), gone = metric("jlora_client_disconnects_total");
        var closed = new CountDownLatch(1);
        var w = new Watch(1, closed);
        server.observer = w;
        var socket = new Socket("127.0.0.1", server.port());
        send(socket, body(20, false));
        w.await(w.held, "the request's first text");   // it is generating; the scheduler waits for the close
        socket.setSoLinger(true, 0);   // RST: the server's next write fails at once
        socket.close();
        closed.countDown();
        w.await(w.gone, "noticing the disconnect at the answer's write");
        assertNull(w.problem.get());
        assertEquals(ServeResult.Finish.MAX_TOKENS, w.result.get().finish());
        assertEquals(20, w.result.get().completionTokens());
        nextRequestRuns();
        assertEquals(cancelled, metric("jlora_requests_cancelled_total"));
        assertEquals(gone + 1, metric("jlora_client_disconnects_total"));
    }

    static void send(Socket socket, String json) throws Exception {
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        OutputStream out = socket.getOutputStream();
        out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + KEY
                + "\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        out.write(b);
        out.flush();
    }

    static String firstDataLine(BufferedReader r) throws Exception {
        for (String line = r.readLine(); line != null; line = r.readLine()) {
            int at = line.indexOf("data: ");
            if (at >= 0) {
                return line.substring(at);
            }
        }
        throw new AssertionError("the stream ended before its first data line");
    }
}
