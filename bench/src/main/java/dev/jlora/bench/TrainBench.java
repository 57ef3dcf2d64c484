package dev.jlora.bench;

import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.optim.AdamW;
import dev.jlora.engine.optim.GradientClipping;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.quant.QuantType;
import dev.jlora.simd.Parallel;
import dev.jlora.simd.VectorOps;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * LoRA training throughput of jlora: tokens/s of one full step (forward, backward through the frozen weights,
 * global-norm clipping, AdamW) on random-initialised stories15M/42M-shaped models ({@link BenchModels}) in F32, Q8_0
 * and Q4_0 (or NF4: the F32 model with its block matrices quantized in memory), with and without activation
 * checkpointing. Warm-up steps run first (JIT); the median of the measured
 * steps is reported, with the heap in use after the last step. A plain runner, not JMH: a step is long and the loop
 * is the thing measured.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp bench/target/benchmarks.jar \
 *      dev.jlora.bench.TrainBench --models ../shared/models --out bench/target/models [--shapes 15M] \
 *      [--types F32,Q8_0,Q4_0,NF4] [--batch 4] [--seq 256] [--rank 8] [--targets q,k,v,o] [--steps 5] [--warmup 2]
 *      [--checkpointing off|on|both]
 * </pre>
 */
public final class TrainBench {

    public static void main(String[] args) throws Exception {
        String th = opt(args, "--threads", null);
        if (th != null) {
            System.setProperty("jlora.threads", th);
        }
        Path models = Path.of(opt(args, "--models", "../shared/models"));
        Path out = Path.of(opt(args, "--out", "bench/target/models"));
        String[] shapes = opt(args, "--shapes", "15M").split(",");
        String[] types = opt(args, "--types", "F32,Q8_0,Q4_0").split(",");
        int B = Integer.parseInt(opt(args, "--batch", "4"));
        int T = Integer.parseInt(opt(args, "--seq", "256"));
        int rank = Integer.parseInt(opt(args, "--rank", "8"));
        String targets = opt(args, "--targets", "q,k,v,o");
        int steps = Integer.parseInt(opt(args, "--steps", "5"));
        int warmup = Integer.parseInt(opt(args, "--warmup", "2"));
        boolean[] checkpointing = switch (opt(args, "--checkpointing", "both")) {
            case "off" -> new boolean[] {false};
            case "on" -> new boolean[] {true};
            case "both" -> new boolean[] {false, true};
            default -> throw new IllegalArgumentException("--checkpointing must be off, on or both");
        };
        System.out.printf(Locale.ROOT, "jlora kernels: %s, threads: %d; B=%d T=%d LoRA r=%d on %s%n",
                VectorOps.get().name(), Parallel.threads(), B, T, rank, targets);
        for (String s : shapes) {
            var shape = BenchModels.shape(s.trim());
            for (String t : types) {
                QuantType type = QuantType.valueOf(t.trim());
                // NF4 has no GGUF layout: the F32 model is loaded and its block matrices quantized in memory.
                QuantType stored = type == QuantType.NF4 ? QuantType.F32 : type;
                Path file = BenchModels.write(shape, stored, models.resolve("vocab/ggml-vocab-llama-spm.gguf"),
                        out.resolve(shape.name() + "-" + stored + ".gguf"), 42);
                LlamaModel m = ModelLoader.load(file);
                if (type == QuantType.NF4) {
                    m = withBlockMatrices(m, QuantType.NF4);
                }
                for (boolean ck : checkpointing) {
                    run(shape.name(), type, m, B, T, new LoraConfig(rank, 2f * rank, 0f, false,
                            LoraConfig.parseTargets(targets)), ck, steps, warmup);
                }
            }
        }
    }

    static void run(String shape, QuantType type, LlamaModel m, int B, int T, LoraConfig lora, boolean checkpointing,
                    int steps, int warmup) {
        var adapters = TrainableAdapterSet.lora(m.weights(), lora, 1);
        var graph = new LlamaTrainGraph(m.config(), m.weights(), adapters, B, T, checkpointing);
        var opt = AdamW.defaults();
        int[][] batch = randomBatch(m.config().vocabSize(), B * T, new SplittableRandom(3));
        double[] secs = new double[steps], cpu = new double[steps];
        var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        for (int i = -warmup; i < steps; i++) {
            long t0 = System.nanoTime(), c0 = os.getProcessCpuTime();
            step(adapters, graph, opt, batch[0], batch[1], i);
            if (i >= 0) {
                secs[i] = (System.nanoTime() - t0) / 1e9;
                cpu[i] = (os.getProcessCpuTime() - c0) / 1e9;
            }
        }
        Arrays.sort(secs);
        Arrays.sort(cpu);
        double median = secs[steps / 2];
        Runtime rt = Runtime.getRuntime();
        System.gc();
        long heapMiB = (rt.totalMemory() - rt.freeMemory()) >> 20;
        // CPU seconds (all threads of the process) per step: less sensitive than wall time to other processes on a
        // shared machine, since time spent descheduled is not counted.
        System.out.printf(Locale.ROOT, "%-12s %-5s checkpointing=%-5s  %8.0f tokens/s  (%.3f s/step, %.3f CPU s/step, "
                        + "best %.3f s, %,d trainable, heap %,d MiB, load %s)%n",
                shape, type, checkpointing, B * T / median, median, cpu[steps / 2], secs[0], adapters.parameterCount(),
                heapMiB, loadAverage());
    }

    private static String loadAverage() {
        try {
            return java.nio.file.Files.readString(Path.of("/proc/loadavg")).split(" ")[0];
        } catch (java.io.IOException | RuntimeException e) {
            return "?";
        }
    }

    /** {inputs, targets}: {@code n} random token ids each, past the three special tokens. */
    static int[][] randomBatch(int vocabSize, int n, SplittableRandom rnd) {
        int[] in = new int[n], tgt = new int[n];
        for (int i = 0; i < n; i++) {
            in[i] = 3 + rnd.nextInt(vocabSize - 3);
            tgt[i] = 3 + rnd.nextInt(vocabSize - 3);
        }
        return new int[][] {in, tgt};
    }

    /** One full training step: forward, backward, global-norm clipping at 1, AdamW at lr 1e-4. */
    static void step(TrainableAdapterSet adapters, LlamaTrainGraph graph, AdamW opt, int[] in, int[] tgt, int seed) {
        adapters.zeroGrad();
        graph.forwardBackward(in, tgt, seed, 1f);
        GradientClipping.clip(adapters.parameters(), 1.0);
        opt.step(adapters.parameters(), 1e-4f);
    }

    /**
     * {@code m} with the seven matrices of every block quantized to {@code type}; embedding and output head stay as
     * loaded (QLoRA quantizes the linear layers of the blocks and leaves the head in higher precision).
     */
    static LlamaModel withBlockMatrices(LlamaModel m, QuantType type) {
        var layers = new ArrayList<LlamaWeights.Layer>();
        for (var l : m.weights().layers()) {
            layers.add(new LlamaWeights.Layer(l.attnNorm(), type.quantize(l.wq()), type.quantize(l.wk()),
                    type.quantize(l.wv()), type.quantize(l.wo()), l.bq(), l.bk(), l.bv(), l.ffnNorm(),
                    type.quantize(l.wGate()), type.quantize(l.wUp()), type.quantize(l.wDown())));
        }
        var w = m.weights();
        return new LlamaModel(m.config(), new LlamaWeights(w.tokenEmbedding(), layers, w.finalNorm(), w.output()),
                m.tokenizer());
    }

    private static String opt(String[] args, String name, String def) {
        for (int i = 0; i < args.length - 1; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        return def;
    }
}
