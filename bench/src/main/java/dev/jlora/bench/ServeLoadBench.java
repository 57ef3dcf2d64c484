package dev.jlora.bench;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.infer.GenerationConfig;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.infer.KvPagePool;
import dev.jlora.engine.infer.SamplerConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.serve.Scheduler;
import dev.jlora.engine.serve.ServeListener;
import dev.jlora.engine.serve.ServeRequest;
import dev.jlora.engine.serve.ServeResult;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
import dev.jlora.simd.Parallel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The S-LoRA serving benchmark: throughput and latency of the {@link Scheduler} (continuous batching, shared base
 * matmul, adapter deltas by group) against the number of distinct adapters among the requests, with a fixed number
 * of concurrent clients (closed loop: each client sends its next request when the last one finished). Request j
 * uses adapter j mod K, a rank-8 LoRA on q, k, v and o (S-LoRA's setting). Every request decodes exactly
 * {@code --tokens} tokens (end-of-text ignored) after an 8-token prompt, so all runs do the same work.
 *
 * <p>Baseline, as in S-LoRA's comparison: requests one at a time, each merging its adapter into fp32 copies of the
 * base weights before decoding (and dropping them after) — what serving many adapters without unmerged batching
 * costs. Printed: tokens/s, p50/p99 request latency, and the ratio to the one-adapter run.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar dev.jlora.bench.ServeLoadBench \
 *      --models ../shared/models --out bench/target/models [--shape stories15M] [--type Q8_0]
 *      [--adapters 1,8,64,512] [--clients 32] [--requests 256] [--tokens 32] [--threads N]
 * </pre>
 */
public final class ServeLoadBench {
    static final int PROMPT_TOKENS = 8, RANK = 8;
    static final Set<Target> TARGETS = EnumSet.of(Target.Q, Target.K, Target.V, Target.O);

    public static void main(String[] args) throws Exception {
        String th = ServeBatchBench.opt(args, "--threads", null);
        if (th != null) {
            System.setProperty("jlora.threads", th);
        }
        Path models = Path.of(ServeBatchBench.opt(args, "--models", "../shared/models"));
        Path out = Path.of(ServeBatchBench.opt(args, "--out", "bench/target/models"));
        BenchModels.Shape shape = BenchModels.shape(ServeBatchBench.opt(args, "--shape", "stories15M"));
        QuantType type = QuantType.valueOf(ServeBatchBench.opt(args, "--type", "Q8_0"));
        int clients = Integer.parseInt(ServeBatchBench.opt(args, "--clients", "32"));
        int requests = Integer.parseInt(ServeBatchBench.opt(args, "--requests", "256"));
        int tokens = Integer.parseInt(ServeBatchBench.opt(args, "--tokens", "32"));
        Path file = BenchModels.write(shape, type, models.resolve("vocab/ggml-vocab-llama-spm.gguf"),
                out.resolve(shape.name() + "-" + type + ".gguf"), 42);
        LlamaModel m = ModelLoader.load(file);
        System.out.printf(Locale.ROOT, "%s %s, threads %d, %d clients, %d requests of %d prompt + %d generated tokens, "
                        + "LoRA r=%d on %s%n", shape.name(), type, Parallel.threads(), clients, requests, PROMPT_TOKENS,
                tokens, RANK, TARGETS);
        run(m, List.of(adapter(m, 0)), Math.min(clients, 8), Math.min(requests, 32), tokens);   // warm-up
        double single = 0;
        for (String k : ServeBatchBench.opt(args, "--adapters", "1,8,64,512").split(",")) {
            int n = Integer.parseInt(k.trim());
            List<AdapterSet> adapters = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                adapters.add(adapter(m, i));
            }
            Result r = run(m, adapters, clients, requests, tokens);
            single = n == 1 ? r.tokensPerSecond : single;
            System.out.printf(Locale.ROOT, "%4d adapters: %7.1f tok/s  p50 %6.0f ms  p99 %6.0f ms  preemptions %d  "
                            + "(load average after: %s)%s%n",
                    n, r.tokensPerSecond, r.p50Millis, r.p99Millis, r.preemptions, DecodeBench.loadAverage(),
                    single > 0 ? String.format(Locale.ROOT, "  (%.0f %% of 1 adapter)", 100 * r.tokensPerSecond / single) : "");
        }
        List<AdapterSet> few = List.of(adapter(m, 1), adapter(m, 2), adapter(m, 3), adapter(m, 4));
        double merged = mergePerRequest(m, few, Math.min(requests, 16), tokens);
        System.out.printf(Locale.ROOT, "merge per request (one at a time, fp32 merged copies): %.1f tok/s%s%n", merged,
                single > 0 ? String.format(Locale.ROOT, "  (%.0f %% of batched, 1 adapter)", 100 * merged / single) : "");
    }

    record Result(double tokensPerSecond, double p50Millis, double p99Millis, long preemptions) {}

    /** Closed loop: {@code clients} threads each submit their next request when the previous one finished. */
    static Result run(LlamaModel m, List<AdapterSet> adapters, int clients, int requests, int tokens) throws Exception {
        var cfg = new GenerationConfig(tokens, SamplerConfig.greedy(), List.of(), false);
        long[] latency = new long[requests];
        var next = new AtomicInteger();
        // Room for every client's request at once, in whole KV pages: this measures batching, not preemption.
        var pool = KvPagePool.forPositions(m.config(), clients * KvPagePool.DEFAULT_PAGE_SIZE
                * Math.ceilDiv((long) PROMPT_TOKENS + tokens, KvPagePool.DEFAULT_PAGE_SIZE));
        try (var scheduler = new Scheduler(m, clients, pool, requests)) {
            var done = new CountDownLatch(clients);
            long t0 = System.nanoTime();
            for (int c = 0; c < clients; c++) {
                Thread.ofVirtual().start(() -> {
                    try {
                        for (int j; (j = next.getAndIncrement()) < requests; ) {
                            long start = System.nanoTime();
                            var finished = new CountDownLatch(1);
                            scheduler.submit(new ServeRequest("a" + j % adapters.size(), adapters.get(j % adapters.size()),
                                    prompt(j), cfg, new ServeListener() {
                                        @Override public void onText(String text) {}
                                        @Override public void onFinish(ServeResult result) { finished.countDown(); }
                                        @Override public void onError(Exception error) { finished.countDown(); }
                                    }));
                            finished.await();
                            latency[j] = System.nanoTime() - start;
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    } finally {
                        done.countDown();
                    }
                });
            }
            done.await();
            double secs = (System.nanoTime() - t0) / 1e9;
            long[] sorted = latency.clone();
            Arrays.sort(sorted);
            return new Result((double) requests * tokens / secs, sorted[requests / 2] / 1e6,
                    sorted[Math.min(requests - 1, (int) Math.ceil(requests * 0.99) - 1)] / 1e6,
                    scheduler.preemptions());
        }
    }

    /** Requests one by one, each on fp32 copies of the base with its adapter merged in (the no-batching baseline). */
    static double mergePerRequest(LlamaModel m, List<AdapterSet> adapters, int requests, int tokens) {
        long t0 = System.nanoTime();
        for (int j = 0; j < requests; j++) {
            var merged = new LlamaModel(m.config(), mergedWeights(m.weights(),
                    (TrainableAdapterSet) adapters.get(j % adapters.size())), m.tokenizer());
            var session = new InferenceSession(merged, AdapterSet.NONE, PROMPT_TOKENS + tokens + 1);
            session.prefill(prompt(j));
            for (int t = 0; t < tokens; t++) {
                session.decode(2 + (t * 31 + j) % 1000);
            }
        }
        return (double) requests * tokens * 1e9 / (System.nanoTime() - t0);
    }

    static LlamaWeights mergedWeights(LlamaWeights w, TrainableAdapterSet adapters) {
        var layers = new ArrayList<LlamaWeights.Layer>();
        for (int l = 0; l < w.layers().size(); l++) {
            var L = w.layers().get(l);
            layers.add(new LlamaWeights.Layer(L.attnNorm(), merge(L.wq(), adapters.get(l, Target.Q)),
                    merge(L.wk(), adapters.get(l, Target.K)), merge(L.wv(), adapters.get(l, Target.V)),
                    merge(L.wo(), adapters.get(l, Target.O)), L.bq(), L.bk(), L.bv(), L.ffnNorm(), L.wGate(), L.wUp(),
                    L.wDown()));
        }
        return new LlamaWeights(w.tokenEmbedding(), layers, w.finalNorm(), w.output());
    }

    static QuantMatrix merge(QuantMatrix base, TrainableAdapter a) {
        float[] dense = new float[base.rows() * base.cols()];
        float[] row = new float[base.cols()];
        for (int r = 0; r < base.rows(); r++) {
            base.dequantizeRow(r, row, 0);
            System.arraycopy(row, 0, dense, r * base.cols(), row.length);
        }
        a.mergeInto(dense);
        return QuantType.F32.quantize(dense, base.rows(), base.cols());
    }

    static int[] prompt(int j) {
        int[] p = new int[PROMPT_TOKENS];
        p[0] = 1;
        for (int i = 1; i < p.length; i++) {
            p[i] = 2 + (j * 131 + i * 17) % 1000;
        }
        return p;
    }

    static AdapterSet adapter(LlamaModel m, long seed) {
        var set = TrainableAdapterSet.lora(m.weights(), new LoraConfig(RANK, 16f, 0f, false, TARGETS), seed);
        ServeBatchBench.randomize(set, seed);
        return set;
    }
}
