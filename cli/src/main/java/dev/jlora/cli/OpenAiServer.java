package dev.jlora.cli;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.GenerationConfig;
import dev.jlora.engine.infer.KvCacheType;
import dev.jlora.engine.infer.KvPagePool;
import dev.jlora.engine.infer.SamplerConfig;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.JsonParseException;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.serve.AdapterRegistry;
import dev.jlora.engine.serve.QueueFullException;
import dev.jlora.engine.serve.Scheduler;
import dev.jlora.engine.serve.ServeListener;
import dev.jlora.engine.serve.ServeRequest;
import dev.jlora.engine.serve.ServeResult;
import dev.jlora.engine.tokenizer.ChatTemplate;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * The OpenAI-compatible HTTP front end of {@code jlora serve} on the JDK's {@link HttpServer}, one virtual thread
 * per exchange. Generation goes through one {@link Scheduler}; the request's {@code model} field picks the base
 * model (its name) or an adapter of the {@link AdapterRegistry}. Errors follow OpenAI's shape
 * {@code {"error":{"message","type","param","code"}}}.
 */
public final class OpenAiServer implements AutoCloseable {
    /** Largest request body read; more is answered 413. */
    static final int MAX_BODY_BYTES = 1 << 20;
    /**
     * A stream with nothing to send for this long gets an SSE comment line, which clients ignore: the JDK server
     * gives a handler no view of its socket, so a write is the only way to notice that the client has gone, also
     * while the request waits in the queue or prefills a long prompt.
     */
    static final long STREAM_HEARTBEAT_MILLIS = 500;
    private static final Json.Limits BODY_LIMITS = new Json.Limits(32, MAX_BODY_BYTES, MAX_BODY_BYTES, 64);
    /** What a request for the base model runs with: no adapter, the base's RoPE. */
    private static final AdapterRegistry.Loaded BASE = new AdapterRegistry.Loaded(AdapterSet.NONE, 0);

    /** Server settings (the serve command's flags). */
    public record Settings(String host, int port, String apiKey, int maxQueue, int maxTokensLimit, int maxRunning,
                    long kvTokenBudget, KvCacheType kvType) {
        /** Settings with an fp32 KV cache. */
        public Settings(String host, int port, String apiKey, int maxQueue, int maxTokensLimit, int maxRunning,
                        long kvTokenBudget) {
            this(host, port, apiKey, maxQueue, maxTokensLimit, maxRunning, kvTokenBudget, KvCacheType.F32);
        }
    }

    /** An HTTP error in OpenAI's shape. */
    static final class ApiException extends RuntimeException {
        final int status;
        final String type, param, code;

        ApiException(int status, String type, String param, String code, String message) {
            super(message);
            this.status = status;
            this.type = type;
            this.param = param;
            this.code = code;
        }

        static ApiException invalid(String param, String message) {
            return new ApiException(400, "invalid_request_error", param, null, message);
        }
    }

    private final LlamaModel model;
    private final String modelName;
    private final AdapterRegistry adapters;   // null: base model only
    private final Settings settings;
    private final byte[] apiKey;              // null: no key required
    private final Scheduler scheduler;
    private final HttpServer http;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final AtomicLong ids = new AtomicLong();
    private final AtomicLong httpErrors = new AtomicLong();
    private final AtomicLong clientsGone = new AtomicLong();

    /** Hooks for tests that order events with latches (package-private; the default does nothing). */
    interface Observer {
        /** The listener the scheduler calls for a generation request, in place of {@code listener}. */
        default ServeListener listener(ServeListener listener) {
            return listener;
        }

        /** A write to a client failed: the client disconnected; its request was cancelled if still running. */
        default void clientGone() {}
    }

    volatile Observer observer = new Observer() {};

    /**
     * Starts serving {@code model} under {@code modelName} with the adapters of {@code adapters} (null: the base model
     * only); returns once the server listens. {@code jlora serve} and the embedding API ({@code dev.jlora.api}) use it.
     */
    public OpenAiServer(LlamaModel model, String modelName, AdapterRegistry adapters, Settings s) throws IOException {
        this.model = model;
        this.modelName = modelName;
        this.adapters = adapters;
        this.settings = s;
        this.apiKey = s.apiKey() == null ? null : s.apiKey().getBytes(StandardCharsets.UTF_8);
        if (s.maxTokensLimit() < 1) {
            throw new IllegalArgumentException("--max-tokens-limit must be ≥ 1, got " + s.maxTokensLimit());
        }
        // One pool for KV pages and resident adapters (S-LoRA's Unified Paging): the KV budget plus the adapter cache's.
        var pool = new KvPagePool(model.config(), KvPagePool.DEFAULT_PAGE_SIZE, KvPagePool.poolPages(model.config(),
                s.kvTokenBudget(), adapters == null ? 0 : adapters.maxBytes(), s.kvType()), s.kvType());
        if (adapters != null) {
            adapters.sharePool(pool);
        }
        this.scheduler = new Scheduler(model, s.maxRunning(), pool, s.maxQueue());
        this.http = HttpServer.create(new InetSocketAddress(s.host(), s.port()), 64);
        http.setExecutor(executor);
        route("/v1/completions", "POST", ex -> generate(ex, false));
        route("/v1/chat/completions", "POST", ex -> generate(ex, true));
        route("/v1/models", "GET", this::models);
        route("/health", "GET", ex -> send(ex, 200, "application/json", Json.write(Map.of("status", "ok"))));
        route("/metrics", "GET", this::metrics);
        route("/admin/adapters/load", "POST", ex -> admin(ex, true));
        route("/admin/adapters/unload", "POST", ex -> admin(ex, false));
        route("/", null, ex -> {
            throw new ApiException(404, "invalid_request_error", null, "not_found",
                    "no such endpoint: " + ex.getRequestMethod() + " " + ex.getRequestURI().getPath());
        });
        http.start();
    }

    /** The port the server listens on (the real one when 0 was asked for). */
    public int port() {
        return http.getAddress().getPort();
    }

    @Override
    public void close() {
        http.stop(0);
        scheduler.close();
        executor.close();
    }

    private interface Handler {
        void handle(HttpExchange ex) throws IOException;
    }

    private void route(String path, String method, Handler h) {
        http.createContext(path, ex -> {
            try (ex) {
                try {
                    if (method != null && !ex.getRequestURI().getPath().equals(path)) {
                        throw new ApiException(404, "invalid_request_error", null, "not_found",
                                "no such endpoint: " + ex.getRequestURI().getPath());
                    }
                    if (!path.equals("/health")) {
                        authorize(ex);
                    }
                    if (method != null && !ex.getRequestMethod().equals(method)) {
                        ex.getResponseHeaders().set("Allow", method);
                        throw new ApiException(405, "invalid_request_error", null, "method_not_allowed",
                                path + " takes " + method + ", not " + ex.getRequestMethod());
                    }
                    h.handle(ex);
                } catch (ApiException e) {
                    sendError(ex, e);
                } catch (QueueFullException e) {
                    ex.getResponseHeaders().set("Retry-After", "1");
                    sendError(ex, new ApiException(503, "server_error", null, "queue_full", e.getMessage()));
                } catch (AdapterRegistry.UnknownAdapterException e) {
                    sendError(ex, new ApiException(404, "invalid_request_error", "model", "model_not_found",
                            e.getMessage()));
                } catch (IllegalArgumentException e) {
                    sendError(ex, ApiException.invalid(null, e.getMessage()));
                } catch (IOException e) {
                    // Includes a client that went away; answering may fail too, which is fine.
                    try {
                        sendError(ex, new ApiException(500, "server_error", null, null, String.valueOf(e.getMessage())));
                    } catch (IOException | RuntimeException ignored) {
                        // the connection is gone
                    }
                } catch (RuntimeException e) {
                    sendError(ex, new ApiException(500, "server_error", null, null, e.toString()));
                }
            }
        });
    }

    private void authorize(HttpExchange ex) {
        if (apiKey == null) {
            return;
        }
        String h = ex.getRequestHeaders().getFirst("Authorization");
        byte[] given = h != null && h.startsWith("Bearer ")
                ? h.substring(7).getBytes(StandardCharsets.UTF_8) : new byte[0];
        // Constant time in the key's content, so the response time does not reveal a matching prefix.
        if (!MessageDigest.isEqual(apiKey, given)) {
            throw new ApiException(401, "invalid_request_error", null, "invalid_api_key",
                    h == null ? "missing API key: send 'Authorization: Bearer KEY'" : "invalid API key");
        }
    }

    private Map<String, Object> body(HttpExchange ex) throws IOException {
        byte[] bytes;
        try (InputStream in = ex.getRequestBody()) {
            bytes = in.readNBytes(MAX_BODY_BYTES + 1);
        }
        if (bytes.length > MAX_BODY_BYTES) {
            throw new ApiException(413, "invalid_request_error", null, "request_too_large",
                    "request body is larger than " + MAX_BODY_BYTES + " bytes");
        }
        try {
            return Json.parseObject(new String(bytes, StandardCharsets.UTF_8), BODY_LIMITS, "request body");
        } catch (JsonParseException e) {
            throw ApiException.invalid(null, "malformed JSON: " + e.getMessage());
        }
    }

    private void generate(HttpExchange ex, boolean chat) throws IOException {
        Map<String, Object> req = body(ex);
        String name = string(req, "model", null);
        if (name == null) {
            throw ApiException.invalid("model", "'model' is required: the base model '" + modelName
                    + "' or an adapter name (GET /v1/models)");
        }
        AdapterRegistry.Loaded adapter = adapterFor(name);
        int[] prompt;
        if (chat) {
            prompt = model.tokenizer().encode(model.tokenizer().chatTemplate().render(messages(req), true), true, true);
        } else {
            prompt = model.tokenizer().encode(prompt(req), true, false);
        }
        GenerationConfig cfg = generationConfig(req);
        boolean stream = bool(req, "stream", false);

        var events = new LinkedBlockingQueue<Object>();   // String text, ServeResult, or Exception
        Scheduler.Ticket ticket;
        try {
            ticket = scheduler.submit(new ServeRequest(name, adapter.adapters(), prompt, cfg, observer.listener(new ServeListener() {
                @Override public void onText(String text) { events.add(text); }
                @Override public void onFinish(ServeResult result) { events.add(result); }
                @Override public void onError(Exception error) { events.add(error); }
            }), adapter.ropeScale()));
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("max_tokens", e.getMessage());
        }
        String id = (chat ? "chatcmpl-" : "cmpl-") + ids.incrementAndGet();
        long created = System.currentTimeMillis() / 1000;
        if (stream) {
            stream(ex, chat, ticket, events, id, created, name);
            return;
        }
        ServeResult r = waitForResult(events, ticket);
        Map<String, Object> choice = new LinkedHashMap<>();
        choice.put("index", 0);
        if (chat) {
            choice.put("message", obj("role", "assistant", "content", r.text()));
        } else {
            choice.put("text", r.text());
            choice.put("logprobs", null);
        }
        choice.put("finish_reason", r.finish().openAiReason());
        Map<String, Object> out = obj("id", id, "object", chat ? "chat.completion" : "text_completion",
                "created", created, "model", name, "choices", List.of(choice),
                "usage", obj("prompt_tokens", r.promptTokens(), "completion_tokens", r.completionTokens(),
                        "total_tokens", r.promptTokens() + r.completionTokens()));
        try {
            send(ex, 200, "application/json", Json.write(out));
        } catch (IOException e) {
            // The client left while its request ran (not noticed earlier: an answer's first write is its status
            // line, which is not known before the result); the request has finished and its slot is free.
            clientGone();
        }
    }

    private void clientGone() {
        clientsGone.incrementAndGet();
        observer.clientGone();
    }

    private static ServeResult waitForResult(BlockingQueue<Object> events, Scheduler.Ticket ticket) throws IOException {
        try {
            while (true) {
                Object e = events.take();
                if (e instanceof ServeResult r) {
                    return r;
                }
                if (e instanceof Exception x) {
                    throw new IOException("generation failed: " + x, x);
                }
            }
        } catch (InterruptedException e) {
            ticket.cancel();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    /** Server-sent events: one {@code data: {chunk}} per piece of text, a chunk with the finish reason, [DONE]. */
    private void stream(HttpExchange ex, boolean chat, Scheduler.Ticket ticket, BlockingQueue<Object> events,
                        String id, long created, String name) throws IOException {
        ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-cache");
        ex.sendResponseHeaders(200, 0);
        OutputStream out = ex.getResponseBody();
        try {
            if (chat) {
                sse(out, chunk(chat, id, created, name, obj("role", "assistant"), null));
            }
            while (true) {
                Object e = events.poll(STREAM_HEARTBEAT_MILLIS, TimeUnit.MILLISECONDS);
                if (e == null) {
                    out.write(": keep-alive\n\n".getBytes(StandardCharsets.UTF_8));   // an SSE comment
                    out.flush();
                } else if (e instanceof String text) {
                    sse(out, chunk(chat, id, created, name, chat ? obj("content", text) : text, null));
                } else if (e instanceof ServeResult r) {
                    sse(out, chunk(chat, id, created, name, chat ? obj() : "", r.finish().openAiReason()));
                    break;
                } else {
                    sse(out, Json.write(obj("error", obj("message", "generation failed: " + e, "type", "server_error",
                            "param", null, "code", null))));
                    break;
                }
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException e) {
            ticket.cancel();   // the client is gone: the scheduler frees its slot and KV cache at the next step
            clientGone();
        } catch (InterruptedException e) {
            ticket.cancel();
            Thread.currentThread().interrupt();
        }
    }

    private static String chunk(boolean chat, String id, long created, String name, Object content, String finish) {
        Map<String, Object> choice = new LinkedHashMap<>();
        choice.put("index", 0);
        choice.put(chat ? "delta" : "text", content);
        choice.put("finish_reason", finish);
        return Json.write(obj("id", id, "object", chat ? "chat.completion.chunk" : "text_completion",
                "created", created, "model", name, "choices", List.of(choice)));
    }

    private static void sse(OutputStream out, String json) throws IOException {
        out.write(("data: " + json + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private AdapterRegistry.Loaded adapterFor(String name) throws IOException {
        if (name.equals(modelName)) {
            return BASE;
        }
        if (adapters == null) {
            throw new ApiException(404, "invalid_request_error", "model", "model_not_found", "model '" + name
                    + "' does not exist: this server has no --adapters and serves only '" + modelName + "'");
        }
        try {
            return adapters.lookup(name);
        } catch (AdapterRegistry.UnknownAdapterException e) {
            throw new ApiException(404, "invalid_request_error", "model", "model_not_found", "model '" + name
                    + "' does not exist: neither the base model '" + modelName + "' nor an adapter");
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("model", e.getMessage());
        }
    }

    private static String prompt(Map<String, Object> req) {
        Object p = req.get("prompt");
        if (p instanceof List<?> l && l.size() == 1 && l.getFirst() instanceof String s) {
            return s;
        }
        if (!(p instanceof String s)) {
            throw ApiException.invalid("prompt", "'prompt' must be a string (or a list of one string)");
        }
        return s;
    }

    private static List<ChatTemplate.Message> messages(Map<String, Object> req) {
        if (!(req.get("messages") instanceof List<?> list) || list.isEmpty()) {
            throw ApiException.invalid("messages", "'messages' must be a non-empty list of {role, content}");
        }
        List<ChatTemplate.Message> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            if (!(list.get(i) instanceof Map<?, ?> m) || !(m.get("role") instanceof String role)
                    || !(m.get("content") instanceof String content)) {
                throw ApiException.invalid("messages", "messages[" + i + "] must be {\"role\": string, \"content\": string}");
            }
            if (!List.of("system", "user", "assistant").contains(role)) {
                throw ApiException.invalid("messages", "messages[" + i + "].role must be system, user or assistant, got '"
                        + role + "'");
            }
            out.add(new ChatTemplate.Message(role, content));
        }
        return out;
    }

    /** OpenAI's parameters (max_tokens, temperature, top_p, seed, stop) plus llama.cpp's top_k, min_p, repeat_penalty. */
    private GenerationConfig generationConfig(Map<String, Object> req) {
        // Parameters we do not implement are refused rather than ignored, so a client never gets less than it asked.
        if (req.get("n") != null && !Long.valueOf(1).equals(req.get("n"))) {
            throw ApiException.invalid("n", "only n = 1 is supported, got " + req.get("n"));
        }
        if (req.get("best_of") != null && !Long.valueOf(1).equals(req.get("best_of"))) {
            throw ApiException.invalid("best_of", "only best_of = 1 is supported, got " + req.get("best_of"));
        }
        if (Boolean.TRUE.equals(req.get("echo"))) {
            throw ApiException.invalid("echo", "echo is not supported");
        }
        Object lp = req.get("logprobs");
        if (lp != null && !Boolean.FALSE.equals(lp)) {
            throw ApiException.invalid("logprobs", "logprobs are not supported");
        }
        long maxTokens = integer(req, "max_tokens", 16);
        if (maxTokens < 1 || maxTokens > settings.maxTokensLimit()) {
            throw ApiException.invalid("max_tokens", "'max_tokens' must be in 1.." + settings.maxTokensLimit()
                    + ", got " + maxTokens);
        }
        double temperature = number(req, "temperature", 1.0);
        if (temperature < 0 || temperature > 2) {
            throw ApiException.invalid("temperature", "'temperature' must be in [0, 2], got " + temperature);
        }
        double topP = number(req, "top_p", 1.0);
        if (!(topP > 0 && topP <= 1)) {
            throw ApiException.invalid("top_p", "'top_p' must be in (0, 1], got " + topP);
        }
        long topK = integer(req, "top_k", 0);
        if (topK < 0 || topK > Integer.MAX_VALUE) {
            throw ApiException.invalid("top_k", "'top_k' must be ≥ 0, got " + topK);
        }
        double minP = number(req, "min_p", 0.0);
        if (!(minP >= 0 && minP <= 1)) {
            throw ApiException.invalid("min_p", "'min_p' must be in [0, 1], got " + minP);
        }
        double penalty = number(req, "repeat_penalty", 1.0);
        if (!(penalty > 0)) {
            throw ApiException.invalid("repeat_penalty", "'repeat_penalty' must be positive, got " + penalty);
        }
        long seed = req.get("seed") == null ? System.nanoTime() : integer(req, "seed", 0);
        List<String> stop = new ArrayList<>();
        Object s = req.get("stop");
        if (s instanceof String str) {
            stop.add(str);
        } else if (s instanceof List<?> l) {
            for (Object o : l) {
                if (!(o instanceof String str) || str.isEmpty()) {
                    throw ApiException.invalid("stop", "'stop' must be a string or a list of non-empty strings");
                }
                stop.add(str);
            }
        } else if (s != null) {
            throw ApiException.invalid("stop", "'stop' must be a string or a list of strings");
        }
        if (stop.size() > 4 || stop.contains("")) {
            throw ApiException.invalid("stop", "'stop' takes up to 4 non-empty strings");
        }
        var sampling = new SamplerConfig((float) temperature, (int) topK, (float) topP, (float) minP, (float) penalty,
                64, seed);
        return new GenerationConfig((int) maxTokens, sampling, stop, true);
    }

    private void models(HttpExchange ex) throws IOException {
        List<Object> data = new ArrayList<>();
        data.add(obj("id", modelName, "object", "model", "created", 0, "owned_by", "jlora"));
        if (adapters != null) {
            for (String n : adapters.available()) {
                data.add(obj("id", n, "object", "model", "created", 0, "owned_by", "jlora", "parent", modelName));
            }
        }
        send(ex, 200, "application/json", Json.write(obj("object", "list", "data", data)));
    }

    private void metrics(HttpExchange ex) throws IOException {
        var sb = new StringBuilder();
        metric(sb, "jlora_requests_total", "counter", "Generation requests accepted.", scheduler.requestsTotal());
        metric(sb, "jlora_tokens_generated_total", "counter", "Tokens generated, over all requests.",
                scheduler.tokensGenerated());
        metric(sb, "jlora_queue_length", "gauge", "Requests waiting for room.", scheduler.queueLength());
        metric(sb, "jlora_running_requests", "gauge", "Requests being decoded.", scheduler.running());
        metric(sb, "jlora_adapters_resident", "gauge", "Adapters loaded in memory.",
                adapters == null ? 0 : adapters.resident().size());
        metric(sb, "jlora_adapter_cache_hits_total", "counter", "Adapter lookups served from memory.",
                adapters == null ? 0 : adapters.hits());
        metric(sb, "jlora_adapter_cache_misses_total", "counter", "Adapter lookups that loaded from disk.",
                adapters == null ? 0 : adapters.misses());
        metric(sb, "jlora_requests_cancelled_total", "counter", "Requests cancelled (client gone) before their end.",
                scheduler.cancelledTotal());
        metric(sb, "jlora_client_disconnects_total", "counter", "Clients that went away before their answer was sent.",
                clientsGone.get());
        metric(sb, "jlora_http_errors_total", "counter", "Requests answered with an error status.", httpErrors.get());
        KvPagePool pool = scheduler.pool();
        metric(sb, "jlora_memory_pages_total", "gauge", "Pages of the memory pool shared by KV caches and adapters ("
                + pool.pageSize() + " KV positions, " + pool.pageBytes() + " bytes each).", pool.totalPages());
        metric(sb, "jlora_kv_pages_used", "gauge", "Pool pages held by KV caches.", pool.kvPages());
        metric(sb, "jlora_adapter_pages_used", "gauge", "Pool pages held by resident adapters.", pool.adapterPages());
        metric(sb, "jlora_preemptions_total", "counter", "Running requests sent back to the queue to recompute their "
                + "KV cache later because the pool was full.", scheduler.preemptions());
        send(ex, 200, "text/plain; version=0.0.4; charset=utf-8", sb.toString());
    }

    private static void metric(StringBuilder sb, String name, String type, String help, long value) {
        sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
        sb.append("# TYPE ").append(name).append(' ').append(type).append('\n');
        sb.append(name).append(' ').append(value).append('\n');
    }

    private void admin(HttpExchange ex, boolean load) throws IOException {
        Map<String, Object> req = body(ex);
        String name = string(req, "name", null);
        if (name == null) {
            throw ApiException.invalid("name", "'name' (the adapter's file name in --adapters) is required");
        }
        if (adapters == null) {
            throw new ApiException(404, "invalid_request_error", "name", "model_not_found",
                    "this server has no --adapters directory");
        }
        Map<String, Object> out;
        try {
            if (load) {
                adapters.get(name);
                out = obj("name", name, "loaded", true);
            } else {
                out = obj("name", name, "unloaded", adapters.unload(name));
            }
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid("name", e.getMessage());
        }
        send(ex, 200, "application/json", Json.write(out));
    }

    private void sendError(HttpExchange ex, ApiException e) throws IOException {
        httpErrors.incrementAndGet();
        send(ex, e.status, "application/json", Json.write(obj("error", obj("message", e.getMessage(),
                "type", e.type, "param", e.param, "code", e.code))));
    }

    private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    private static Map<String, Object> obj(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    private static String string(Map<String, Object> req, String key, String dflt) {
        return field(req, key, dflt, String.class, "a string", Function.identity());
    }

    private static boolean bool(Map<String, Object> req, String key, boolean dflt) {
        return field(req, key, dflt, Boolean.class, "true or false", Function.identity());
    }

    private static long integer(Map<String, Object> req, String key, long dflt) {
        return field(req, key, dflt, Long.class, "an integer", Function.identity());
    }

    private static double number(Map<String, Object> req, String key, double dflt) {
        return field(req, key, dflt, Number.class, "a number", Number::doubleValue);
    }

    /**
     * {@code req[key]} (a JSON value of type {@code jsonType}) through {@code convert}; {@code dflt} when absent or
     * null; otherwise a 400 naming the key, what it must be and what it is.
     */
    private static <J, T> T field(Map<String, Object> req, String key, T dflt, Class<J> jsonType, String mustBe,
                                  Function<? super J, ? extends T> convert) {
        Object v = req.get(key);
        if (v == null) {
            return dflt;
        }
        if (!jsonType.isInstance(v)) {
            throw ApiException.invalid(key, "'" + key + "' must be " + mustBe + ", got " + Json.typeName(v)
                    + (v instanceof Number ? " " + v : ""));
        }
        return convert.apply(jsonType.cast(v));
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "jlora server on %s:%d", settings.host(), port());
    }
}
