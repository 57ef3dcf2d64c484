package dev.jlora.cli;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.adapter.TrainableBase;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.serve.AdapterRegistry;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code jlora serve MODEL --adapters DIR --port N}: an OpenAI-compatible server of one base model and many adapters. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serve a base model and a directory of adapters over an OpenAI-compatible HTTP API.",
                "Each entry of --adapters DIR is an adapter named by its file name; pick it with the request's 'model'.",
                "See docs/SERVING.md."})
final class ServeCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL", description = "GGUF file, Hugging Face directory, or 'demo'")
    String model;

    @Option(names = "--adapters", paramLabel = "DIR", description = "Directory of adapters (PEFT dirs, LoRA GGUFs, .jlora files)")
    Path adaptersDir;

    @Option(names = "--port", defaultValue = "8080", description = "Port, 0 = any free one (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to bind (default: ${DEFAULT-VALUE})")
    String host;

    @Option(names = "--api-key", paramLabel = "KEY", description = "Require 'Authorization: Bearer KEY' (all but /health)")
    String apiKey;

    @Option(names = "--max-queue", defaultValue = "64", description = "Requests that may wait; more get 503 (default: ${DEFAULT-VALUE})")
    int maxQueue;

    @Option(names = "--max-tokens-limit", defaultValue = "1024", description = "Largest max_tokens a request may ask (default: ${DEFAULT-VALUE})")
    int maxTokensLimit;

    @Option(names = "--max-running", defaultValue = "8", description = "Requests decoded together (default: ${DEFAULT-VALUE})")
    int maxRunning;

    @Option(names = "--kv-budget", paramLabel = "TOKENS", description = "KV cache positions of all running requests together (default: max-running × model context)")
    Long kvBudget;

    @picocli.CommandLine.Mixin
    KvTypeOption kvType = new KvTypeOption();

    @Option(names = "--max-adapters", defaultValue = "16", description = "Adapters kept in memory (default: ${DEFAULT-VALUE})")
    int maxAdapters;

    @Option(names = "--max-adapter-mib", defaultValue = "2048", description = "MiB of adapters kept in memory (default: ${DEFAULT-VALUE})")
    long maxAdapterMib;

    @Option(names = "--quant", paramLabel = "Q", description = "Quantize weights on load (e.g. Q8_0, Q4_0, NF4)")
    String quant;

    @picocli.CommandLine.Mixin
    QuantEmbeddingOption quantEmbeddings = new QuantEmbeddingOption();

    @picocli.CommandLine.Mixin
    MemoryOption memory = new MemoryOption();

    @Override
    public Integer call() throws Exception {
        LlamaModel m = CliModels.load(model, quant, quantEmbeddings.enabled, memory.budget);
        String name = model.equals("demo") ? "demo" : Path.of(model).getFileName().toString();
        MemorySplit split = MemorySplit.of(memory.budget, m, maxRunning, kvBudget, adaptersDir != null, maxAdapterMib << 20,
                kvType.type());
        if (!memory.budget.unlimited()) {
            System.err.println("jlora serve: " + split.describe(memory.budget));
        }
        AdapterRegistry registry = adaptersDir == null ? null : registry(adaptersDir, m, maxAdapters, split.adapterBytes());
        var settings = new OpenAiServer.Settings(host, port, apiKey, maxQueue, maxTokensLimit, maxRunning,
                split.kvTokens(), kvType.type());
        var server = new OpenAiServer(m, name, registry, settings);
        var stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }));
        System.err.println("jlora serve: model '" + name + "' on http://" + host + ":" + server.port()
                + (registry == null ? "" : ", adapters from " + adaptersDir) + (apiKey == null ? "" : ", API key required"));
        stopped.await();
        return 0;
    }

    /** The adapters of {@code dir}, each loaded with {@link AdapterFiles#load} for {@code m}. */
    static AdapterRegistry registry(Path dir, LlamaModel m, int maxAdapters, long maxBytes) throws java.io.IOException {
        return new AdapterRegistry(dir, p -> {
            var set = AdapterFiles.load(p, m, msg -> System.err.println("warning: " + p.getFileName() + ": " + msg));
            Float ropeScale = AdapterFiles.ropeScale(p);
            return new AdapterRegistry.Loaded(set, set.parameterCount() * Float.BYTES + trainedBaseCopyBytes(set),
                    ropeScale == null ? 1f : ropeScale);
        }, maxAdapters, maxBytes);
    }

    /**
     * The fp32 copies of a trained embedding and head that serving builds once for an adapter saved with them (the
     * weights its requests run on), beside the adapter's own parameters.
     */
    static long trainedBaseCopyBytes(AdapterSet set) {
        if (!(set instanceof TrainableAdapterSet t) || t.base() == null) {
            return 0;
        }
        TrainableBase b = t.base();
        return (b.embedding() == null ? 0 : b.embedding().size() * (long) Float.BYTES)
                + (b.head() == null ? 0 : b.head().size() * (long) Float.BYTES);
    }
}
