package dev.jlora.bench;

import dev.jlora.engine.backend.Backend;
import dev.jlora.engine.backend.BackendWeights;
import dev.jlora.engine.backend.Backends;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.infer.KvCacheType;
import dev.jlora.engine.infer.KvPagePool;
import dev.jlora.engine.infer.Sampler;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.ffm.LlamaLib;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.safetensors.SafetensorsDtype;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
import dev.jlora.simd.Parallel;
import dev.jlora.simd.VectorOps;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Decode tokens/s of jlora and of llama.cpp (libllama v0.5.0 through {@link LlamaLib}, same thread count, F32 KV
 * cache, flash attention off) on the same GGUF files: random-initialised stories15M/110M-shaped models in F32 and
 * Q8_0 ({@link BenchModels}).
 *
 * <p>Each round prefills a {@code --prompt}-token prompt (16 by default), then decodes {@code --tokens} tokens one at
 * a time, feeding back the
 * engine's own argmax. The two engines alternate round by round in one process, so both see the same machine load;
 * warm-up rounds (JIT compilation for jlora, page-in for both) come first. Best and median of the measured rounds
 * are printed and written with every round to {@code bench/results/<date>/decode-<UTC>.json}. A plain runner, not
 * JMH: one decode step is milliseconds long, and the loop is the thing measured.
 *
 * <p>Each round also times two {@link StreamRead}s with the same threads: one of a buffer large enough to measure
 * main memory by STREAM's rule (four times the last-level cache, {@link StreamRead#memoryResidentBytes}), whose
 * GB/s is the memory-bandwidth limit, and one of exactly as many bytes as one decode step reads from weights
 * ({@link #weightBytesPerToken}). Decode GB/s (those bytes × tokens/s) over the first is the fraction of the
 * memory-bandwidth limit reached. A model whose weights fit the last-level cache can pass that limit; the second
 * read says how fast the same bytes come when they stay in cache.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp bench/target/benchmarks.jar \
 *      dev.jlora.bench.DecodeBench --models ../shared/models --out bench/target/models [--shapes 15M,110M] \
 *      [--types F32,Q8_0] [--prompt 16] [--tokens 64] [--rounds 5] [--warmup 2] [--threads N] [--results bench/results]
 *      [--ggml-weights] [--llama-plain] [--kv-f16] [--safetensors]
 * </pre>
 * {@code --kv-f16} adds jlora with an fp16 KV cache ({@code --kv-type f16}) to the alternation;
 * {@code --safetensors} adds jlora on the same model written as a Hugging Face directory (F32 and F16 only,
 * {@link BenchModels#writeHf}).
 * llama.cpp loads each model as it does by default, Q4_0/Q4_K weights repacked into its CPU_REPACK buffer on an
 * AVX2 CPU (an int8 GEMV over rows interleaved eight at a time); {@code --llama-plain} adds it once more with every
 * weight in its stored layout ({@code use_extra_bufts = false}), the layout jlora reads.
 * {@code --ggml-weights} adds a third engine in the same alternation: jlora with its linear weights resident in
 * ggml ({@code --backend ggml}: the matmuls on ggml's kernels, everything else in Java).
 * {@code --threads} sets both engines' thread count (default: jlora's pool size). On a machine whose cores are
 * oversubscribed, use 1: ggml's worker threads synchronise by spinning and slow down badly when a peer is descheduled.
 */
public final class DecodeBench {
    /** Tokens/s of every measured round of one engine on one model. */
    record Series(String shape, QuantType type, String engine, double[] decode, double[] prefill, long bytesPerToken,
                  double[] memoryGBs, double[] sameSizeGBs, double[] decodeCpu, double[] memoryCpuGBs) {
        double best(double[] a) {
            return Arrays.stream(a).max().orElse(0);
        }

        double median(double[] a) {
            double[] s = a.clone();
            Arrays.sort(s);
            return s.length == 0 ? 0 : s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
        }
    }

    private static final java.lang.management.ThreadMXBean THREADS = java.lang.management.ManagementFactory.getThreadMXBean();

    /**
     * One engine's round: prefill then decode, returns {prefill tok/s, decode tok/s, decode tokens per CPU second of
     * the calling thread}. The last is the load-robust figure with {@code --threads 1}: both engines then run
     * everything on the calling thread (jlora's pool runs inline, llama.cpp's n_threads = 1), and the time other
     * processes hold the core is not counted.
     */
    interface Round {
        double[] run() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        // before anything touches Parallel, whose pool size is fixed when the class initialises
        String th = opt(args, "--threads", null);
        if (th != null) {
            System.setProperty("jlora.threads", th);
        }
        Path models = Path.of(opt(args, "--models", "../shared/models"));
        Path out = Path.of(opt(args, "--out", "bench/target/models"));
        Path resultsDir = Path.of(opt(args, "--results", "bench/results"));
        String[] shapes = opt(args, "--shapes", "15M,110M").split(",");
        String[] types = opt(args, "--types", "F32,Q8_0").split(",");
        int promptTokens = Integer.parseInt(opt(args, "--prompt", "16"));
        int tokens = Integer.parseInt(opt(args, "--tokens", "64"));
        int rounds = Integer.parseInt(opt(args, "--rounds", "5"));
        int warmup = Integer.parseInt(opt(args, "--warmup", "2"));
        int threads = Parallel.threads();
        Backend ggmlWeights = Arrays.asList(args).contains("--ggml-weights") ? Backends.select("ggml").backend() : null;
        boolean llamaPlain = Arrays.asList(args).contains("--llama-plain");
        boolean kvF16 = Arrays.asList(args).contains("--kv-f16");
        boolean safetensors = Arrays.asList(args).contains("--safetensors");
        Optional<LlamaLib> llama = LlamaLib.load(LlamaLib.defaultDirectory());
        String started = java.time.Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString();
        String load = loadAverage();
        System.out.printf(Locale.ROOT, "jlora kernels: %s, threads: %d; llama.cpp: %s; load average at start: %s%n",
                VectorOps.get().name(), threads, llama.map(l -> "v0.5.0 from " + l.directory()).orElse("not available"), load);
        int[] prompt = new int[promptTokens];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = 1 + i * 997 % 31999;
        }
        List<Series> results = new ArrayList<>();
        for (String s : shapes) {
            BenchModels.Shape shape = BenchModels.shape(s.trim());
            for (String t : types) {
                QuantType type = QuantType.valueOf(t.trim());
                Path file = BenchModels.write(shape, type, models.resolve("vocab/ggml-vocab-llama-spm.gguf"),
                        out.resolve(shape.name() + "-" + type + ".gguf"), 42);
                LlamaModel m = ModelLoader.load(file);
                List<Engine> engines = new ArrayList<>();
                engines.add(new Engine("jlora", () -> jloraRound(m, prompt, tokens, KvCacheType.F32)));
                if (kvF16) {
                    engines.add(new Engine("jlora f16 KV", () -> jloraRound(m, prompt, tokens, KvCacheType.F16)));
                }
                if (safetensors && (type == QuantType.F32 || type == QuantType.F16)) {
                    Path hf = BenchModels.writeHf(shape, type, models.resolve("vocab/ggml-vocab-llama-spm.gguf"), file,
                            out.resolve(shape.name() + "-" + type + "-hf"),
                            type == QuantType.F32 ? SafetensorsDtype.F32 : SafetensorsDtype.F16, 42);
                    LlamaModel fromHf = ModelLoader.load(hf);
                    engines.add(new Engine("jlora safetensors", () -> jloraRound(fromHf, prompt, tokens, KvCacheType.F32)));
                }
                List<AutoCloseable> natives = new ArrayList<>();
                try {
                    if (llama.isPresent()) {
                        engines.add(llamaEngine("llama.cpp", llama.get(), file, true, prompt, tokens, threads, natives));
                        if (llamaPlain) {
                            engines.add(llamaEngine("llama.cpp plain", llama.get(), file, false, prompt, tokens, threads, natives));
                        }
                    }
                    if (ggmlWeights != null) {
                        LlamaModel onGgml = BackendWeights.onBackend(m, ggmlWeights);
                        engines.add(new Engine("jlora+ggml", () -> jloraRound(onGgml, prompt, tokens, KvCacheType.F32)));
                    }
                    // The bandwidth limit: a STREAM-like read from main memory; and a read of as many bytes as one
                    // decode step reads, which stays in cache when they fit. Same threads as the engines.
                    long bytesPerToken = weightBytesPerToken(m);
                    var memory = new StreamRead(StreamRead.memoryResidentBytes(bytesPerToken), 44);
                    var sameSize = new StreamRead(bytesPerToken, 43);
                    double[] memoryGBs = new double[rounds], memoryCpuGBs = new double[rounds], sameSizeGBs = new double[rounds];
                    double[][][] measured = new double[engines.size()][3][rounds];   // [engine][prefill, decode, decode per CPU s][round]
                    for (int r = -warmup; r < rounds; r++) {
                        for (int e = 0; e < engines.size(); e++) {
                            double[] a = engines.get(e).round().run();
                            for (int k = 0; r >= 0 && k < 3; k++) {
                                measured[e][k][r] = a[k];
                            }
                        }
                        double[] mem = bestRead(memory), same = bestRead(sameSize);
                        if (r >= 0) {
                            memoryGBs[r] = mem[0];
                            memoryCpuGBs[r] = mem[1];
                            sameSizeGBs[r] = same[0];
                        }
                    }
                    for (int e = 0; e < engines.size(); e++) {
                        results.add(new Series(shape.name(), type, engines.get(e).name(), measured[e][1], measured[e][0],
                                bytesPerToken, memoryGBs, sameSizeGBs, measured[e][2], memoryCpuGBs));
                        print(results.getLast());
                    }
                } finally {
                    for (AutoCloseable c : natives.reversed()) {
                        c.close();
                    }
                }
            }
        }
        System.out.println();
        System.out.println("| model | weights | engine | decode tok/s best | median | prefill tok/s best | median "
                + "| MB read per token | decode GB/s (best) | memory read GB/s best (median) | of memory limit, best (median) "
                + "| same-size read GB/s, median | of same-size read, median "
                + "| decode tok per CPU s best (median) | of memory limit by CPU time, median |");
        System.out.println("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (Series r : results) {
            double mb = r.bytesPerToken() / 1e6, gbs = r.bytesPerToken() * r.best(r.decode()) / 1e9;
            double medianGbs = r.bytesPerToken() * r.median(r.decode()) / 1e9;
            System.out.printf(Locale.ROOT, "| %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f (%.2f) | %.0f %% (%.0f %%) "
                            + "| %.2f | %.0f %% | %.1f (%.1f) | %.0f %% |%n",
                    r.shape(), r.type(), r.engine(), r.best(r.decode()), r.median(r.decode()), r.best(r.prefill()),
                    r.median(r.prefill()), mb, gbs, r.best(r.memoryGBs()), r.median(r.memoryGBs()),
                    100 * gbs / r.best(r.memoryGBs()), 100 * medianGbs / r.median(r.memoryGBs()),
                    r.median(r.sameSizeGBs()), 100 * medianGbs / r.median(r.sameSizeGBs()),
                    r.best(r.decodeCpu()), r.median(r.decodeCpu()),
                    100 * r.bytesPerToken() * r.median(r.decodeCpu()) / 1e9 / r.median(r.memoryCpuGBs()));
        }
        writeResults(resultsDir, started, load, loadAverage(), threads, promptTokens, tokens, rounds, warmup, results);
    }

    /** One engine of the alternation. */
    record Engine(String name, Round round) {}

    /**
     * llama.cpp on {@code file}; {@code cpuRepack} as in {@link LlamaLib#loadModel(Path, boolean)}. The model and
     * context are added to {@code natives} for the caller to close.
     */
    static Engine llamaEngine(String name, LlamaLib llama, Path file, boolean cpuRepack, int[] prompt, int tokens,
                              int threads, List<AutoCloseable> natives) throws java.io.IOException {
        LlamaLib.Model model = llama.loadModel(file, cpuRepack);
        natives.add(model);
        LlamaLib.Context ctx = model.newContext(prompt.length + tokens + 1, threads);
        natives.add(ctx);
        return new Engine(name, () -> llamaRound(ctx, prompt, tokens));
    }

    static double[] jloraRound(LlamaModel m, int[] prompt, int tokens, KvCacheType kvType) {
        int ctx = prompt.length + tokens + 1;
        var s = new InferenceSession(m, AdapterSet.NONE, ctx, InferenceSession.DEFAULT_MAX_BATCH,
                KvPagePool.forPositions(m.config(), ctx, kvType));
        long t0 = System.nanoTime();
        float[] logits = s.prefill(prompt);
        long t1 = System.nanoTime(), c1 = THREADS.getCurrentThreadCpuTime();
        for (int i = 0; i < tokens; i++) {
            logits = s.decode(Sampler.argmax(logits, logits.length));
        }
        long t2 = System.nanoTime(), c2 = THREADS.getCurrentThreadCpuTime();
        return new double[] {prompt.length * 1e9 / (t1 - t0), tokens * 1e9 / (t2 - t1), tokens * 1e9 / (c2 - c1)};
    }

    static double[] llamaRound(LlamaLib.Context ctx, int[] prompt, int tokens) {
        int[] one = new int[1];
        ctx.clear();
        long t0 = System.nanoTime();
        float[] logits = ctx.decode(prompt, 0, false);
        long t1 = System.nanoTime(), c1 = THREADS.getCurrentThreadCpuTime();
        for (int i = 0; i < tokens; i++) {
            one[0] = Sampler.argmax(logits, logits.length);
            logits = ctx.decode(one, prompt.length + i, false);
        }
        long t2 = System.nanoTime(), c2 = THREADS.getCurrentThreadCpuTime();
        return new double[] {prompt.length * 1e9 / (t1 - t0), tokens * 1e9 / (t2 - t1), tokens * 1e9 / (c2 - c1)};
    }

    /** {GB/s, GB per CPU second of the calling thread}, each the best of three reads (one can be preempted). */
    private static double[] bestRead(StreamRead read) {
        double gbs = 0, cpuGbs = 0;
        for (int k = 0; k < 3; k++) {
            long s0 = System.nanoTime(), c0 = THREADS.getCurrentThreadCpuTime();
            read.read();
            gbs = Math.max(gbs, read.bytes() / (double) (System.nanoTime() - s0));
            cpuGbs = Math.max(cpuGbs, read.bytes() / (double) (THREADS.getCurrentThreadCpuTime() - c0));
        }
        return new double[] {gbs, cpuGbs};
    }

    /**
     * Bytes of weights one decode step reads: every block matrix and the output head once, one embedding row
     * (norm vectors are a few KB and left out). The KV cache is not counted: these runs stay below 50 positions.
     */
    static long weightBytesPerToken(LlamaModel m) {
        var w = m.weights();
        long bytes = w.output().storageBytes() + w.tokenEmbedding().storageBytes() / w.tokenEmbedding().rows();
        for (var l : w.layers()) {
            for (QuantMatrix q : new QuantMatrix[] {l.wq(), l.wk(), l.wv(), l.wo(), l.wGate(), l.wUp(), l.wDown()}) {
                bytes += q.storageBytes();
            }
        }
        return bytes;
    }

    private static void print(Series r) {
        System.out.printf(Locale.ROOT, "%-12s %-5s %-10s decode best %8.1f median %8.1f tok/s   prefill best %8.1f tok/s"
                        + "   decode per CPU s best %8.1f median %8.1f tok%n", r.shape(), r.type(), r.engine(),
                r.best(r.decode()), r.median(r.decode()), r.best(r.prefill()), r.best(r.decodeCpu()), r.median(r.decodeCpu()));
    }

    private static void writeResults(Path dir, String started, String loadStart, String loadEnd, int threads,
                                     int promptTokens, int tokens, int rounds, int warmup, List<Series> results)
            throws java.io.IOException {
        var runs = new ArrayList<Object>();
        for (Series s : results) {
            var m = new java.util.LinkedHashMap<String, Object>();
            m.put("model", s.shape());
            m.put("weights", s.type().name());
            m.put("engine", s.engine());
            m.put("decode_tokens_per_s", Arrays.stream(s.decode()).boxed().toList());
            m.put("prefill_tokens_per_s", Arrays.stream(s.prefill()).boxed().toList());
            m.put("decode_best", s.best(s.decode()));
            m.put("decode_median", s.median(s.decode()));
            m.put("decode_tokens_per_cpu_s", Arrays.stream(s.decodeCpu()).boxed().toList());
            m.put("weight_bytes_per_token", s.bytesPerToken());
            m.put("memory_read_GB_per_s", Arrays.stream(s.memoryGBs()).boxed().toList());
            m.put("memory_read_GB_per_cpu_s", Arrays.stream(s.memoryCpuGBs()).boxed().toList());
            m.put("same_size_read_GB_per_s", Arrays.stream(s.sameSizeGBs()).boxed().toList());
            runs.add(m);
        }
        var doc = new java.util.LinkedHashMap<String, Object>();
        doc.put("benchmark", "DecodeBench");
        doc.put("started", started);
        doc.put("load_average_start", loadStart);
        doc.put("load_average_end", loadEnd);
        doc.put("threads", threads);
        doc.put("last_level_cache_bytes", StreamRead.lastLevelCacheBytes().orElse(-1));
        doc.put("kernels", VectorOps.get().name());
        doc.put("prompt_tokens", promptTokens);
        doc.put("decode_tokens", tokens);
        doc.put("rounds", rounds);
        doc.put("warmup_rounds", warmup);
        doc.put("java", Runtime.version().toString());
        doc.put("results", runs);
        String stamp = started.replace("-", "").replace(":", "");
        Path file = dir.resolve(started.substring(0, 10)).resolve("decode-" + stamp + ".json");
        java.nio.file.Files.createDirectories(file.getParent());
        java.nio.file.Files.writeString(file, dev.jlora.engine.io.Json.writePretty(doc) + "\n");
        System.out.println("results: " + file);
    }

    static String loadAverage() {
        try {
            return java.nio.file.Files.readString(Path.of("/proc/loadavg")).strip();
        } catch (java.io.IOException e) {
            return "unknown";
        }
    }

    private static String opt(String[] args, String name, String def) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        return def;
    }
}
