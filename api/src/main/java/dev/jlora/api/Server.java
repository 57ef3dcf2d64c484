package dev.jlora.api;

import dev.jlora.cli.OpenAiServer;
import dev.jlora.engine.infer.KvCacheType;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.serve.AdapterRegistry;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;

/**
 * The OpenAI-compatible HTTP server of {@code jlora serve}, running in this JVM: {@code POST /v1/completions},
 * {@code POST /v1/chat/completions} (streaming with {@code "stream": true}), {@code GET /v1/models},
 * {@code /health}, {@code /metrics}. A request's {@code "model"} field names the base model or one adapter of
 * {@link Options#adapters}; requests of different adapters are decoded together (continuous batching). Close it to
 * stop. Started by {@link Model#serve}.
 */
public final class Server implements AutoCloseable {
    private final OpenAiServer server;
    private final String host;

    Server(LlamaModel model, String name, Options o) throws IOException {
        AdapterRegistry registry = o.adapters == null ? null : new AdapterRegistry(o.adapters, p -> {
            var set = AdapterFiles.load(p, model, message -> { });
            Float ropeScale = AdapterFiles.ropeScale(p);
            return new AdapterRegistry.Loaded(set, set.parameterCount() * Float.BYTES, ropeScale == null ? 1f : ropeScale);
        }, o.maxAdapters, o.maxAdapterBytes);
        long budget = (long) o.maxRunning * model.config().contextLength();
        this.server = new OpenAiServer(model, name, registry,
                new OpenAiServer.Settings(o.host, o.port, o.apiKey, o.maxQueue, o.maxTokensLimit, o.maxRunning, budget,
                        o.fp16KvCache ? KvCacheType.F16 : KvCacheType.F32));
        this.host = o.host;
    }

    /**
     * The port it listens on (the one chosen by the system when {@link Options#port} was 0).
     *
     * @return the port
     */
    public int port() {
        return server.port();
    }

    /**
     * The base address, e.g. {@code http://127.0.0.1:8080}.
     *
     * @return the server's URI
     */
    public URI uri() {
        return URI.create("http://" + host + ":" + port());
    }

    /** Stops accepting requests, ends running generations and frees the port. */
    @Override
    public void close() {
        server.close();
    }

    /**
     * Server settings, those of {@code jlora serve} (see docs/SERVING.md). Every setter returns this object.
     */
    public static final class Options {
        private String host = "127.0.0.1";
        private int port = 8080;
        private Path adapters;
        private String apiKey;
        private int maxQueue = 64;
        private int maxTokensLimit = 1024;
        private int maxRunning = 8;
        private int maxAdapters = 16;
        private long maxAdapterBytes = 2048L << 20;
        private boolean fp16KvCache;

        private Options() {}

        /**
         * The defaults: 127.0.0.1:8080, no adapters, no API key, 8 requests decoded together.
         *
         * @return new options
         */
        public static Options defaults() {
            return new Options();
        }

        /**
         * The address to bind.
         *
         * @param host a host name or IP address
         * @return this
         */
        public Options host(String host) {
            this.host = host;
            return this;
        }

        /**
         * The port; 0 lets the system choose a free one (read it back with {@link Server#port}).
         *
         * @param port the TCP port
         * @return this
         */
        public Options port(int port) {
            this.port = port;
            return this;
        }

        /**
         * A directory of adapters, each entry one adapter named by its file name (PEFT directory, llama.cpp LoRA GGUF,
         * {@code .jlora} file or {@code jlora train} output directory); loaded when first asked for.
         *
         * @param dir the adapters directory
         * @return this
         */
        public Options adapters(Path dir) {
            this.adapters = dir;
            return this;
        }

        /**
         * Require {@code Authorization: Bearer KEY} on every endpoint but {@code /health}.
         *
         * @param key the API key
         * @return this
         */
        public Options apiKey(String key) {
            this.apiKey = key;
            return this;
        }

        /**
         * Requests decoded together at most (default 8); the KV cache budget is this many full contexts.
         *
         * @param n the batch size of the decode loop
         * @return this
         */
        public Options maxRunning(int n) {
            this.maxRunning = n;
            return this;
        }

        /**
         * Requests that may wait for room (default 64); more are answered 503.
         *
         * @param n the queue length
         * @return this
         */
        public Options maxQueue(int n) {
            this.maxQueue = n;
            return this;
        }

        /**
         * Store keys and values in fp16 (half the memory, as {@code jlora serve --kv-type f16}); fp32 by default.
         *
         * @param on whether the KV cache is fp16
         * @return this
         */
        public Options fp16KvCache(boolean on) {
            this.fp16KvCache = on;
            return this;
        }

        /**
         * Adapters kept in memory at once (default 16); the least recently used is dropped first.
         *
         * @param n the number of resident adapters
         * @return this
         */
        public Options maxAdapters(int n) {
            this.maxAdapters = n;
            return this;
        }
    }
}
