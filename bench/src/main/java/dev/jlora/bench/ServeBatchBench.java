package dev.jlora.bench;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.infer.BatchedDecode;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.quant.QuantType;
import dev.jlora.simd.Parallel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Decode tokens/s of n concurrent sequences, each with its own rank-8 LoRA on q, k, v, o, gate, up, down (the
 * multi-adapter serving case): the S-LoRA step ({@link BatchedDecode}: base linears once over [n × IC], adapter
 * deltas per adapter) against interleaved per-sequence {@link InferenceSession#decode} (what a server without
 * batching does). Both run the same tokens on the same random stories15M/42M-shaped model ({@link BenchModels}),
 * alternating round by round; the best and median round are printed. A plain runner, not JMH: the loop is measured.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar dev.jlora.bench.ServeBatchBench \
 *      --models ../shared/models --out bench/target/models [--shape stories15M] [--type Q8_0] [--batch 1,4,8]
 *      [--steps 32] [--rounds 5] [--threads N]
 * </pre>
 */
public final class ServeBatchBench {
    public static void main(String[] args) throws Exception {
        String th = opt(args, "--threads", null);
        if (th != null) {
            System.setProperty("jlora.threads", th);
        }
        Path models = Path.of(opt(args, "--models", "../shared/models"));
        Path out = Path.of(opt(args, "--out", "bench/target/models"));
        BenchModels.Shape shape = BenchModels.shape(opt(args, "--shape", "stories15M"));
        QuantType type = QuantType.valueOf(opt(args, "--type", "Q8_0"));
        int steps = Integer.parseInt(opt(args, "--steps", "32"));
        int rounds = Integer.parseInt(opt(args, "--rounds", "5"));
        Path file = BenchModels.write(shape, type, models.resolve("vocab/ggml-vocab-llama-spm.gguf"),
                out.resolve(shape.name() + "-" + type + ".gguf"), 42);
        LlamaModel m = ModelLoader.load(file);
        System.out.printf(Locale.ROOT, "%s %s, threads %d, %d decode steps per round, %d rounds (+1 warm-up)%n",
                shape.name(), type, Parallel.threads(), steps, rounds);
        for (String b : opt(args, "--batch", "1,4,8").split(",")) {
            int n = Integer.parseInt(b.trim());
            List<AdapterSet> adapters = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                adapters.add(lora(m, i));
            }
            double[] batched = new double[rounds], interleaved = new double[rounds];
            for (int r = -1; r < rounds; r++) {
                double tb = round(m, adapters, steps, true), ti = round(m, adapters, steps, false);
                if (r >= 0) {
                    batched[r] = tb;
                    interleaved[r] = ti;
                }
            }
            System.out.printf(Locale.ROOT, "n=%d adapters: batched %.1f tok/s (best %.1f), interleaved %.1f tok/s (best %.1f)%n",
                    n, median(batched), max(batched), median(interleaved), max(interleaved));
        }
    }

    /** Tokens/s of one round: n sessions at position 1, {@code steps} decode steps each. */
    static double round(LlamaModel m, List<AdapterSet> adapters, int steps, boolean batched) {
        int n = adapters.size();
        List<InferenceSession> sessions = new ArrayList<>();
        for (AdapterSet a : adapters) {
            var s = new InferenceSession(m, a, steps + 2);
            s.prefill(new int[] {1});
            sessions.add(s);
        }
        var decode = new BatchedDecode(m);
        int[] tokens = new int[n];
        long t0 = System.nanoTime();
        for (int step = 0; step < steps; step++) {
            for (int i = 0; i < n; i++) {
                tokens[i] = 2 + (step * 31 + i * 7) % 1000;
            }
            if (batched) {
                decode.step(sessions, tokens);
            } else {
                for (int i = 0; i < n; i++) {
                    sessions.get(i).decode(tokens[i]);
                }
            }
        }
        return (double) n * steps * 1e9 / (System.nanoTime() - t0);
    }

    static AdapterSet lora(LlamaModel m, long seed) {
        var set = TrainableAdapterSet.lora(m.weights(), new LoraConfig(8, 16f, 0f, false, EnumSet.allOf(Target.class)), seed);
        randomize(set, seed);
        return set;
    }

    /** Small random values in every tensor (B too), so that each adapter really changes the output. */
    static void randomize(TrainableAdapterSet set, long seed) {
        var rnd = new SplittableRandom(seed);
        for (Parameter p : set.parameters()) {
            for (int i = 0; i < p.value().length; i++) {
                p.value()[i] = (float) rnd.nextDouble(-0.01, 0.01);
            }
        }
    }

    static double median(double[] a) {
        double[] s = a.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static double max(double[] a) {
        return Arrays.stream(a).max().orElse(0);
    }

    static String opt(String[] args, String name, String dflt) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        return dflt;
    }
}
