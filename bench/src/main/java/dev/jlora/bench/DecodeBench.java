package dev.jlora.bench;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.infer.Sampler;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.ffm.LlamaLib;
import dev.jlora.loaders.ModelLoader;
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
 * <p>Each engine prefills a 16-token prompt, then decodes {@code --tokens} tokens one at a time, feeding back its own
 * argmax. Warm-up rounds run first (JIT compilation for jlora, page-in for both); the median of the measured rounds is
 * reported. A plain runner, not JMH: one decode step is milliseconds long and the loop is the thing measured.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp bench/target/benchmarks.jar \
 *      dev.jlora.bench.DecodeBench --models ../shared/models --out bench/target/models [--shapes 15M,110M] \
 *      [--types F32,Q8_0] [--tokens 64] [--rounds 5] [--warmup 2] [--threads N]
 * </pre>
 * {@code --threads} sets both engines' thread count (default: jlora's pool size). On a machine whose cores are
 * oversubscribed, use 1: ggml's worker threads synchronise by spinning and slow down badly when a peer is descheduled.
 */
public final class DecodeBench {
    record Result(String shape, QuantType type, String engine, double tokensPerSecond, double prefillTokensPerSecond) {}

    public static void main(String[] args) throws Exception {
        // before anything touches Parallel, whose pool size is fixed when the class initialises
        String th = opt(args, "--threads", null);
        if (th != null) {
            System.setProperty("jlora.threads", th);
        }
        Path models = Path.of(opt(args, "--models", "../shared/models"));
        Path out = Path.of(opt(args, "--out", "bench/target/models"));
        String[] shapes = opt(args, "--shapes", "15M,110M").split(",");
        String[] types = opt(args, "--types", "F32,Q8_0").split(",");
        int tokens = Integer.parseInt(opt(args, "--tokens", "64"));
        int rounds = Integer.parseInt(opt(args, "--rounds", "5"));
        int warmup = Integer.parseInt(opt(args, "--warmup", "2"));
        int threads = Parallel.threads();
        Optional<LlamaLib> llama = LlamaLib.load(LlamaLib.defaultDirectory());
        System.out.printf(Locale.ROOT, "jlora kernels: %s, threads: %d; llama.cpp: %s%n", VectorOps.get().name(), threads,
                llama.map(l -> "v0.5.0 from " + l.directory()).orElse("not available"));
        int[] prompt = new int[16];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = 1 + i * 997 % 31999;
        }
        List<Result> results = new ArrayList<>();
        for (String s : shapes) {
            BenchModels.Shape shape = BenchModels.shape(s.trim());
            for (String t : types) {
                QuantType type = QuantType.valueOf(t.trim());
                Path file = BenchModels.write(shape, type, models.resolve("vocab/ggml-vocab-llama-spm.gguf"),
                        out.resolve(shape.name() + "-" + type + ".gguf"), 42);
                results.add(jlora(shape, type, file, prompt, tokens, rounds, warmup));
                print(results.getLast());
                if (llama.isPresent()) {
                    results.add(llamaCpp(llama.get(), shape, type, file, prompt, tokens, rounds, warmup, threads));
                    print(results.getLast());
                }
            }
        }
        System.out.println();
        System.out.println("| model | weights | engine | decode tokens/s | prefill tokens/s (16-token prompt) |");
        System.out.println("|---|---|---|---:|---:|");
        for (Result r : results) {
            System.out.printf(Locale.ROOT, "| %s | %s | %s | %.1f | %.1f |%n", r.shape(), r.type(), r.engine(),
                    r.tokensPerSecond(), r.prefillTokensPerSecond());
        }
    }

    static Result jlora(BenchModels.Shape shape, QuantType type, Path file, int[] prompt, int tokens, int rounds,
                        int warmup) throws Exception {
        LlamaModel m = ModelLoader.load(file);
        double[] decode = new double[rounds], prefill = new double[rounds];
        for (int r = -warmup; r < rounds; r++) {
            var s = new InferenceSession(m, AdapterSet.NONE, prompt.length + tokens + 1);
            long t0 = System.nanoTime();
            float[] logits = s.prefill(prompt);
            long t1 = System.nanoTime();
            for (int i = 0; i < tokens; i++) {
                logits = s.decode(Sampler.argmax(logits, logits.length));
            }
            long t2 = System.nanoTime();
            if (r >= 0) {
                prefill[r] = prompt.length * 1e9 / (t1 - t0);
                decode[r] = tokens * 1e9 / (t2 - t1);
            }
        }
        return new Result(shape.name(), type, "jlora", median(decode), median(prefill));
    }

    static Result llamaCpp(LlamaLib lib, BenchModels.Shape shape, QuantType type, Path file, int[] prompt, int tokens,
                           int rounds, int warmup, int threads) throws Exception {
        double[] decode = new double[rounds], prefill = new double[rounds];
        try (var model = lib.loadModel(file); var ctx = model.newContext(prompt.length + tokens + 1, threads)) {
            int[] one = new int[1];
            for (int r = -warmup; r < rounds; r++) {
                ctx.clear();
                long t0 = System.nanoTime();
                float[] logits = ctx.decode(prompt, 0, false);
                long t1 = System.nanoTime();
                for (int i = 0; i < tokens; i++) {
                    one[0] = Sampler.argmax(logits, logits.length);
                    logits = ctx.decode(one, prompt.length + i, false);
                }
                long t2 = System.nanoTime();
                if (r >= 0) {
                    prefill[r] = prompt.length * 1e9 / (t1 - t0);
                    decode[r] = tokens * 1e9 / (t2 - t1);
                }
            }
        }
        return new Result(shape.name(), type, "llama.cpp", median(decode), median(prefill));
    }

    private static void print(Result r) {
        System.out.printf(Locale.ROOT, "%-12s %-5s %-10s decode %8.1f tok/s   prefill %8.1f tok/s%n", r.shape(), r.type(),
                r.engine(), r.tokensPerSecond(), r.prefillTokensPerSecond());
    }

    private static double median(double[] a) {
        double[] s = a.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
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
