package dev.jlora.cli;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.backend.BackendWeights;
import dev.jlora.engine.backend.Backends;
import dev.jlora.engine.infer.GenerationConfig;
import dev.jlora.engine.infer.GenerationResult;
import dev.jlora.engine.infer.Generator;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.infer.KvPagePool;
import dev.jlora.engine.infer.SamplerConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.tokenizer.ChatTemplate;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code jlora generate MODEL --prompt TEXT ...}: streams a completion and reports tokens/s. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {"Generate text from a prompt, streaming tokens as they come.",
                "MODEL is a GGUF file, a Hugging Face model directory, or 'demo' (the built-in stories260K)."})
final class GenerateCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL", description = "GGUF file, Hugging Face directory, or 'demo'")
    String model;

    @Option(names = "--prompt", required = true, description = "Prompt text (the user message with --chat)")
    String prompt;

    @Option(names = "--max-tokens", defaultValue = "128", description = "New tokens at most (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0.8", description = "0 = greedy (default: ${DEFAULT-VALUE})")
    float temperature;

    @Option(names = "--seed", description = "Seed of the sampler (default: random, printed)")
    Long seed;

    @Option(names = "--top-k", defaultValue = "40", description = "0 = off (default: ${DEFAULT-VALUE})")
    int topK;

    @Option(names = "--top-p", defaultValue = "0.95", description = "1 = off (default: ${DEFAULT-VALUE})")
    float topP;

    @Option(names = "--min-p", defaultValue = "0.05", description = "0 = off (default: ${DEFAULT-VALUE})")
    float minP;

    @Option(names = "--repeat-penalty", defaultValue = "1.0", description = "1 = off (default: ${DEFAULT-VALUE})")
    float repeatPenalty;

    @Option(names = "--repeat-last-n", defaultValue = "64", description = "Tokens the penalty looks back (default: ${DEFAULT-VALUE})")
    int repeatLastN;

    @Option(names = "--stop", description = "Stop before this text (repeatable)")
    List<String> stop = new ArrayList<>();

    @Option(names = "--ignore-eos", description = "Keep generating after end-of-generation tokens")
    boolean ignoreEos;

    @Option(names = "--chat", description = "Wrap the prompt in the model's chat template as a user turn")
    boolean chat;

    @Option(names = "--system", description = "System message for --chat")
    String system;

    @Option(names = "--ctx", description = "KV cache positions (default: prompt + max tokens, at most the model's context)")
    Integer ctx;

    @picocli.CommandLine.Mixin
    KvTypeOption kvType = new KvTypeOption();

    @Option(names = "--quant", paramLabel = "Q", description = "Quantize weights on load (e.g. Q8_0, Q4_0, NF4)")
    String quant;

    @picocli.CommandLine.Mixin
    QuantEmbeddingOption quantEmbeddings = new QuantEmbeddingOption();

    @picocli.CommandLine.Mixin
    MemoryOption memory = new MemoryOption();

    @Option(names = "--adapter", paramLabel = "PATH", description = "Adapter: PEFT directory, llama.cpp LoRA GGUF or .jlora (jlora train output)")
    Path adapter;

    @Option(names = "--backend", paramLabel = "B", defaultValue = "java",
            description = "Compute backend for fp32 weights: auto, java, openblas, ggml, cuda (default: ${DEFAULT-VALUE}); see jlora --version")
    String backend;

    @Override
    public Integer call() throws Exception {
        Backends.Selection selected = Backends.select(backend);
        PrintStream out = System.out;
        PrintStream err = System.err;
        long seedUsed = seed != null ? seed : System.nanoTime();
        var sampling = new SamplerConfig(temperature, topK, topP, minP, repeatPenalty, repeatLastN, seedUsed);

        long t0 = System.nanoTime();
        LlamaModel m = BackendWeights.onBackend(ModelFiles.withContextExtension(CliModels.load(model, quant,
                quantEmbeddings.enabled, memory.budget), adapter), selected.backend());
        AdapterSet adapters = ModelFiles.adapters(adapter, m);
        m = ModelFiles.withTrainedBase(m, adapters);
        long loadNanos = System.nanoTime() - t0;

        String text = prompt;
        boolean parseSpecial = false;
        if (chat) {
            ChatTemplate template = m.tokenizer().chatTemplate();
            List<ChatTemplate.Message> messages = new ArrayList<>();
            if (system != null) {
                messages.add(new ChatTemplate.Message("system", system));
            }
            messages.add(new ChatTemplate.Message("user", prompt));
            text = template.render(messages, true);
            parseSpecial = true;
        }
        int[] ids = m.tokenizer().encode(text, true, parseSpecial);
        int contextLength = m.config().contextLength();
        int size = ctx != null ? ctx : Math.min(contextLength, ids.length + Math.max(1, maxTokens));
        if (ids.length > size) {
            throw new IllegalArgumentException("prompt has " + ids.length + " tokens but the context holds " + size
                    + (ctx == null ? " (the model's context length)" : " (--ctx)"));
        }
        memory.budget.require("the KV cache of " + size + " positions",
                InferenceSession.kvCacheBytes(m.config(), size, kvType.type()), m.weights().storageBytes(),
                "use a smaller --ctx or --max-tokens, or --kv-type f16");
        var session = new InferenceSession(m, adapters, size, InferenceSession.DEFAULT_MAX_BATCH,
                KvPagePool.forPositions(m.config(), size, kvType.type()));
        var generator = new Generator(session, m.tokenizer());
        var cfg = new GenerationConfig(maxTokens, sampling, stop, !ignoreEos);

        if (!chat) {
            out.print(prompt);
        }
        out.flush();
        GenerationResult r = generator.generate(ids, cfg, (id, piece) -> {
            out.print(piece);
            out.flush();
        });
        out.println();
        err.printf(Locale.ROOT, "%nmodel: %s (%s, %d layers, dim %d), loaded in %.2f s%n", model,
                m.config().architecture(), m.config().nLayers(), m.config().dim(), loadNanos / 1e9);
        err.printf(Locale.ROOT, "backend: %s, %d weight matrices on it (%s)%n", selected.backend().name(),
                BackendWeights.countOnBackend(m.weights()), selected.reason());
        err.printf(Locale.ROOT, "sampling: %s, seed %d%n", sampling.isGreedy() ? "greedy"
                : String.format(Locale.ROOT, "temperature %.2f, top-k %d, top-p %.2f, min-p %.2f, repeat penalty %.2f",
                temperature, topK, topP, minP, repeatPenalty), seedUsed);
        err.printf(Locale.ROOT, "prompt: %d tokens, %.1f tokens/s%n", ids.length, r.prefillTokensPerSecond());
        err.printf(Locale.ROOT, "generated: %d tokens, decode %.1f tokens/s, stopped by %s%n", r.tokens().length,
                r.decodeTokensPerSecond(), r.stopReason().name().toLowerCase(Locale.ROOT).replace('_', ' '));
        return 0;
    }
}
