package dev.jlora.bench;

import dev.jlora.engine.backend.BackendProvider;
import dev.jlora.ffm.GgmlBackend;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
import dev.jlora.simd.Parallel;
import dev.jlora.simd.VectorOps;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The decode matvec (T = 1, {@link QuantMatrix#matmul}) of a rows × cols weight (n × n by default) against the memory-bandwidth limit:
 * a {@link StreamRead} of exactly as many bytes as the weight occupies, the two alternating call by call in one
 * JVM so both see the same load (on a machine shared with other work, JMH's separate forks would not).
 * "of limit" = stream time / matvec time: 100 % means the kernel runs as fast as merely reading its weights once.
 * For the ggml formats, llama.cpp's CPU {@code mul_mat} on the same bytes ({@link GgmlBackend#residentWeight}: the
 * weight copied once into a ggml buffer, one cached graph; same thread count) runs in the same rounds: for Q4_0 and
 * Q4_K on an AVX2 CPU both as llama.cpp runs a model by default (rows repacked into its CPU_REPACK buffer, an int8
 * GEMV) and in the stored layout ("plain", {@code ggml_mul_mat}'s per-row dots). Best and median of the rounds are reported; the best approximates an
 * idle machine. With {@code -Djlora.threads=1} everything runs on the calling thread (jlora's pool inline, ggml's
 * n_threads = 1, the read), and the thread's CPU time per call is reported too: the load-robust figure on a
 * machine shared with other work, since the time other processes hold the core is not counted.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar dev.jlora.bench.MatvecCompare \
 *      [--rounds 200] [--n 4096 | --shape ROWSxCOLS] [--types Q4_0,Q4_K,NF4,Q8_0] [--copies 1] [--results bench/results]
 * </pre>
 * {@code --shape 32000x768} measures a model's own matrix (here stories110M's head): short rows pay a per-row cost
 * that a 4096-wide row hides.
 * With {@code --copies K} each engine holds K copies of the weight (and the read K buffers) and round r uses copy
 * r mod K: with K copies well over the last-level cache, every call reads its weight from DRAM, as each matrix of
 * a real model's decode step does. With one copy a 4096² 4-bit weight (9 MB) stays in a 32 MiB L3 and the
 * "limit" is the L3 read rate.
 * Writes {@code <results>/<date>/matvec-<UTC>.json}.
 */
public final class MatvecCompare {
    private static final java.lang.management.ThreadMXBean CPU = java.lang.management.ManagementFactory.getThreadMXBean();

    private MatvecCompare() {}

    public static void main(String[] args) throws IOException {
        int rounds = Integer.parseInt(opt(args, "--rounds", "200"));
        int n = Integer.parseInt(opt(args, "--n", "4096"));
        String[] shape = opt(args, "--shape", n + "x" + n).split("x");
        int rows = Integer.parseInt(shape[0]), cols = Integer.parseInt(shape[1]);
        String[] types = opt(args, "--types", "Q4_0,Q4_K,NF4,Q8_0").split(",");
        int copies = Integer.parseInt(opt(args, "--copies", "1"));
        Path resultsDir = Path.of(opt(args, "--results", "bench/results"));
        String started = java.time.Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString();
        String loadStart = DecodeBench.loadAverage();
        System.out.printf(Locale.ROOT, "jlora %s, %d threads; %d rounds; [%d × %d] × %d copies; load average at start: %s%n",
                VectorOps.get().name(), Parallel.threads(), rounds, rows, cols, copies, loadStart);
        var rnd = new SplittableRandom(42);
        float[] dense = new float[rows * cols];
        for (int i = 0; i < dense.length; i++) {
            dense[i] = (float) (0.02 * rnd.nextGaussian());
        }
        float[] x = new float[cols], y = new float[rows];
        for (int i = 0; i < cols; i++) {
            x[i] = (float) rnd.nextDouble(-1, 1);
        }
        BackendProvider.Probe probe = new GgmlBackend.Provider().probe();
        GgmlBackend ggml = probe.backend() instanceof GgmlBackend g ? g : null;
        System.out.println("llama.cpp: " + (ggml != null ? ggml.description() : "not available (" + probe.reason() + ")"));
        List<String> json = new ArrayList<>();
        for (String t : types) {
            QuantType type = QuantType.valueOf(t.trim());
            QuantMatrix[] ws = new QuantMatrix[copies];
            StreamRead[] streams = new StreamRead[copies];
            QuantMatrix[] ggmls = new QuantMatrix[copies], plains = new QuantMatrix[copies];
            boolean repacked = ggml != null && ggml.repacks(type, rows);
            for (int k = 0; k < copies; k++) {
                ws[k] = type.quantize(dense, rows, cols);
                streams[k] = new StreamRead(ws[k].storageBytes(), 43 + k);
                ggmls[k] = ggml == null ? null : ggml.residentWeight(ws[k]).orElse(null);   // the same bytes
                plains[k] = repacked ? ggml.residentWeight(ws[k], false).orElseThrow() : null;
            }
            QuantMatrix w = ws[0], theirs = ggmls[0];
            float[] yTheirs = new float[rows], yPlain = new float[rows];
            long sink = 0;
            double[] tm = new double[rounds], ts = new double[rounds], tg = new double[rounds], tp = new double[rounds];
            double[] cm = new double[rounds], cs = new double[rounds], cg = new double[rounds], cp = new double[rounds];
            for (int r = -30; r < rounds; r++) {   // 30 warm-up rounds: C2 for the loops, pages touched
                int k = Math.floorMod(r, copies);
                long t0 = System.nanoTime(), c0 = CPU.getCurrentThreadCpuTime();
                sink += streams[k].read();
                long t1 = System.nanoTime(), c1 = CPU.getCurrentThreadCpuTime();
                ws[k].matmul(x, 1, y);
                long t2 = System.nanoTime(), c2 = CPU.getCurrentThreadCpuTime();
                if (theirs != null) {
                    ggmls[k].matmul(x, 1, yTheirs);
                }
                long t3 = System.nanoTime(), c3 = CPU.getCurrentThreadCpuTime();
                if (repacked) {
                    plains[k].matmul(x, 1, yPlain);
                }
                long t4 = System.nanoTime(), c4 = CPU.getCurrentThreadCpuTime();
                if (r >= 0) {
                    ts[r] = (t1 - t0) / 1e3;
                    tm[r] = (t2 - t1) / 1e3;
                    tg[r] = (t3 - t2) / 1e3;
                    cs[r] = (c1 - c0) / 1e3;
                    cm[r] = (c2 - c1) / 1e3;
                    cg[r] = (c3 - c2) / 1e3;
                    tp[r] = (t4 - t3) / 1e3;
                    cp[r] = (c4 - c3) / 1e3;
                }
            }
            if (theirs != null) {   // a sanity check that both computed the same product (x is quantized by ggml)
                double num = 0, den = 0;
                for (int i = 0; i < rows; i++) {
                    num += (y[i] - yTheirs[i]) * (double) (y[i] - yTheirs[i]);
                    den += (double) y[i] * y[i];
                }
                System.out.printf(Locale.ROOT, "%-5s jlora vs llama.cpp: relative RMS difference %.2e%n", type, Math.sqrt(num / den));
            }
            Arrays.sort(tm);
            Arrays.sort(ts);
            Arrays.sort(tg);
            Arrays.sort(cm);
            Arrays.sort(cs);
            Arrays.sort(cg);
            Arrays.sort(tp);
            Arrays.sort(cp);
            if (Parallel.threads() == 1) {
                System.out.printf(Locale.ROOT, "%-5s CPU µs of the calling thread, median: stream %.0f, jlora %.0f (of limit %.0f %%)%s%n",
                        type, cs[rounds / 2], cm[rounds / 2], 100 * cs[rounds / 2] / cm[rounds / 2], theirs == null ? ""
                                : String.format(Locale.ROOT, ", llama.cpp %.0f (of limit %.0f %%) | jlora / llama.cpp speed %.0f %%",
                                cg[rounds / 2], 100 * cs[rounds / 2] / cg[rounds / 2], 100 * cg[rounds / 2] / cm[rounds / 2]));
            }
            double gb = w.storageBytes() / 1e9;
            System.out.printf(Locale.ROOT, "%-5s %,d bytes: matvec best %.0f µs (%.1f GB/s), median %.0f µs | stream best %.0f µs"
                            + " (%.1f GB/s), median %.0f µs | of limit: %.0f %% (best), %.0f %% (median)   [%d]%n",
                    type, w.storageBytes(), tm[0], gb / tm[0] * 1e6, tm[rounds / 2], ts[0], gb / ts[0] * 1e6, ts[rounds / 2],
                    100 * ts[0] / tm[0], 100 * ts[rounds / 2] / tm[rounds / 2], sink & 1);
            if (theirs != null) {
                System.out.printf(Locale.ROOT, "%-5s llama.cpp mul_mat best %.0f µs (%.1f GB/s), median %.0f µs | of limit: %.0f %% (best),"
                                + " %.0f %% (median) | jlora / llama.cpp speed: %.0f %% (best), %.0f %% (median)%n",
                        type, tg[0], gb / tg[0] * 1e6, tg[rounds / 2], 100 * ts[0] / tg[0], 100 * ts[rounds / 2] / tg[rounds / 2],
                        100 * tg[0] / tm[0], 100 * tg[rounds / 2] / tm[rounds / 2]);
            }
            if (repacked) {
                System.out.printf(Locale.ROOT, "%-5s llama.cpp plain (no repack) best %.0f µs, median %.0f µs | jlora / llama.cpp plain"
                                + " speed: %.0f %% (best), %.0f %% (median)%s%n", type, tp[0], tp[rounds / 2],
                        100 * tp[0] / tm[0], 100 * tp[rounds / 2] / tm[rounds / 2], Parallel.threads() != 1 ? ""
                                : String.format(Locale.ROOT, " | CPU µs median %.0f, jlora / plain %.0f %%", cp[rounds / 2],
                                100 * cp[rounds / 2] / cm[rounds / 2]));
            }
            json.add(String.format(Locale.ROOT, "{\"type\":\"%s\",\"rows\":%d,\"cols\":%d,\"copies\":%d,\"bytes\":%d,\"rounds\":%d,\"matvecBestUs\":%.1f,"
                            + "\"matvecMedianUs\":%.1f,\"streamBestUs\":%.1f,\"streamMedianUs\":%.1f%s}",
                    type, rows, cols, copies, w.storageBytes(), rounds, tm[0], tm[rounds / 2], ts[0], ts[rounds / 2], (theirs == null ? ""
                            : String.format(Locale.ROOT, ",\"llamaCppBestUs\":%.1f,\"llamaCppMedianUs\":%.1f", tg[0], tg[rounds / 2]))
                            + (theirs == null ? "" : String.format(Locale.ROOT, ",\"llamaCppRepacked\":%b", repacked))
                            + (!repacked ? "" : String.format(Locale.ROOT, ",\"llamaCppPlainBestUs\":%.1f,\"llamaCppPlainMedianUs\":%.1f",
                            tp[0], tp[rounds / 2]))
                            + String.format(Locale.ROOT, ",\"cpuMedianUs\":{\"stream\":%.1f,\"jlora\":%.1f,\"llamaCpp\":%.1f%s}",
                            cs[rounds / 2], cm[rounds / 2], cg[rounds / 2],
                            repacked ? String.format(Locale.ROOT, ",\"llamaCppPlain\":%.1f", cp[rounds / 2]) : "")));
        }
        String loadEnd = DecodeBench.loadAverage();
        System.out.println("load average at end: " + loadEnd);
        String stamp = started.replace("-", "").replace(":", "");
        Path file = resultsDir.resolve(started.substring(0, 10)).resolve("matvec-" + stamp + ".json");
        Files.createDirectories(file.getParent());
        Files.writeString(file, String.format(Locale.ROOT, "{\"benchmark\":\"MatvecCompare\",\"started\":\"%s\","
                        + "\"threads\":%d,\"kernels\":\"%s\",\"java\":\"%s\",\"load_average_start\":\"%s\","
                        + "\"load_average_end\":\"%s\",\"results\":[%s]}%n", started, Parallel.threads(),
                VectorOps.get().name(), Runtime.version(), loadStart, loadEnd, String.join(",\n", json)));
        System.out.println("results: " + file);
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
