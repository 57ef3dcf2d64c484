package dev.jlora.bench;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.infer.Sampler;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.optim.AdamW;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.quant.QuantType;
import java.io.IOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Peak memory of inference and LoRA training on a random-initialised stories110M-shaped model ({@link BenchModels})
 * with the base weights stored as F32 GGUF, stored as Q4_0 GGUF, or stored as F32 and quantized to NF4 at load
 * ({@code --quant nf4}). Every configuration runs in a fresh child JVM, so that no configuration inherits another's
 * heap, mapped pages or JIT state; the child reports, at its end:
 * <ul>
 *   <li>{@code VmHWM}, the peak resident set size of the process (/proc/self/status): heap pages touched, off-heap
 *       quantized blocks, KV cache, the pages of the memory-mapped GGUF file that were read, and the JVM's own
 *       memory (code cache, metaspace, thread stacks);</li>
 *   <li>{@code RssAnon} and {@code RssFile} at the end, splitting the resident set into private memory and mapped
 *       file pages (a touched page of the mapped GGUF counts once, as file memory, reclaimable by the kernel);</li>
 *   <li>the peak Java heap in use: the sum over heap memory pools of each pool's peak usage (an upper bound on the
 *       true peak of the total, the pools peak at different moments), and likewise for the non-heap pools
 *       (metaspace, code cache).</li>
 * </ul>
 * Inference: load, prefill of one token, {@code --tokens} decode steps feeding back the argmax. Training: load, LoRA
 * (r={@code --rank} on {@code --targets}) over batch 1×{@code --seq}, {@code --steps} AdamW steps.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp bench/target/benchmarks.jar \
 *      dev.jlora.bench.MemoryBench --models ../shared/models --out bench/target/models [--shape 110M] [--xmx 8g] \
 *      [--tokens 32] [--seq 128] [--steps 2] [--rank 8] [--targets q,k,v,o] [--configs infer-F32,train-NF4,…]
 * </pre>
 */
public final class MemoryBench {
    /** Marks the child's result line on its standard output. */
    static final String RESULT_PREFIX = "jlora-memory ";

    /** The configurations, in the order they are run and tabulated. */
    static final List<String> CONFIGS = List.of("infer-F32", "infer-Q4_0", "infer-NF4", "infer-NF4E", "train-F32",
            "train-Q4_0", "train-NF4");

    /**
     * What one child reports: peak and final resident memory in KiB, peak heap and non-heap pools in bytes, and
     * the load figures of {@link Load}.
     */
    record Result(String config, long hwmKib, long rssAnonKib, long rssFileKib, long heapPeakBytes,
                  long nonHeapPeakBytes, long weightBytes, Load load) {
        String line() {
            return String.format(Locale.ROOT, "%sconfig=%s hwm_kib=%d rss_anon_kib=%d rss_file_kib=%d heap_peak=%d "
                    + "nonheap_peak=%d weights=%d load_heap_before=%d load_allocated=%d load_heap_peak=%d "
                    + "load_heap_live=%d load_offheap=%d load_mapped_peak=%d load_mapped_end=%d", RESULT_PREFIX, config,
                    hwmKib, rssAnonKib, rssFileKib, heapPeakBytes, nonHeapPeakBytes, weightBytes, load.heapBefore(),
                    load.allocated(), load.heapPeak(), load.heapLive(), load.offHeap(), load.mappedPeak(),
                    load.mappedEnd());
        }

        /** Parses {@link #line()}; throws naming the missing or malformed key. */
        static Result parse(String line) {
            if (!line.startsWith(RESULT_PREFIX)) {
                throw new IllegalArgumentException("not a memory result line (expected prefix '" + RESULT_PREFIX
                        + "'): " + line);
            }
            Map<String, String> kv = new LinkedHashMap<>();
            for (String field : line.substring(RESULT_PREFIX.length()).trim().split("\\s+")) {
                int eq = field.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("memory result field '" + field + "' is not key=value in: " + line);
                }
                kv.put(field.substring(0, eq), field.substring(eq + 1));
            }
            return new Result(require(kv, "config", line), number(kv, "hwm_kib", line), number(kv, "rss_anon_kib", line),
                    number(kv, "rss_file_kib", line), number(kv, "heap_peak", line), number(kv, "nonheap_peak", line),
                    number(kv, "weights", line), new Load(number(kv, "load_heap_before", line),
                    number(kv, "load_allocated", line), number(kv, "load_heap_peak", line),
                    number(kv, "load_heap_live", line), number(kv, "load_offheap", line),
                    number(kv, "load_mapped_peak", line), number(kv, "load_mapped_end", line)));
        }

        private static String require(Map<String, String> kv, String key, String line) {
            String v = kv.get(key);
            if (v == null) {
                throw new IllegalArgumentException("memory result has no '" + key + "' in: " + line);
            }
            return v;
        }

        private static long number(Map<String, String> kv, String key, String line) {
            String v = require(kv, key, line);
            try {
                return Long.parseLong(v);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("memory result '" + key + "' is not an integer ('" + v + "') in: " + line);
            }
        }
    }

    /**
     * Memory of {@code ModelLoader.load} alone, in bytes, as issue #5 counts it (heap + off-heap, not process RSS).
     *
     * @param heapBefore heap in use after a full GC just before the load (the JVM's own few MiB)
     * @param allocated  bytes allocated on the heap by all threads during the load (but the bench's sampler):
     *                   heapBefore + allocated bounds the heap the load can need if nothing is collected
     * @param heapPeak   the heap pools' peak use during the load (pools reset before it), as G1 accounts it:
     *                   whole regions and TLABs, and the sampler's garbage too, so it can exceed heapBefore +
     *                   allocated
     * @param heapLive   heap in use after the load and a full GC: what the loaded model keeps on the heap (norms,
     *                   NF4 absmax codes, tokenizer) plus the few MiB any JVM holds
     * @param offHeap    native memory allocated through the JDK (the "direct" buffer pool, which counts
     *                   {@code Arena.ofAuto} allocations: the blocks of the matrices quantized at load)
     * @param mappedPeak the most resident pages of the memory-mapped model file seen during the load (sampled
     *                   every 20 ms from /proc/self/smaps)
     * @param mappedEnd  resident pages of the mapped model file right after the load
     */
    record Load(long heapBefore, long allocated, long heapPeak, long heapLive, long offHeap, long mappedPeak,
                long mappedEnd) {
        /** Peak heap (bounded by heapBefore + allocated) + off-heap + mapped-resident of the load: the figure. */
        long peakTotal() {
            return heapBefore + allocated + offHeap + mappedPeak;
        }

        /** What stays after the load: live heap + off-heap + mapped-resident. */
        long liveTotal() {
            return heapLive + offHeap + mappedEnd;
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("--child")) {
            child(args);
            return;
        }
        Path models = Path.of(opt(args, "--models", "../shared/models"));
        Path out = Path.of(opt(args, "--out", "bench/target/models"));
        BenchModels.Shape shape = BenchModels.shape(opt(args, "--shape", "110M"));
        String xmx = opt(args, "--xmx", "8g");
        List<String> configs = List.of(opt(args, "--configs", String.join(",", CONFIGS)).split(","));
        Path vocab = models.resolve("vocab/ggml-vocab-llama-spm.gguf");
        Map<QuantType, Path> files = new LinkedHashMap<>();
        for (QuantType stored : new QuantType[] {QuantType.F32, QuantType.Q4_0}) {
            files.put(stored, BenchModels.write(shape, stored, vocab, out.resolve(shape.name() + "-" + stored + ".gguf"), 42));
        }
        System.out.printf(Locale.ROOT, "%s, -Xmx%s, one child JVM per configuration; load average %s%n",
                shape.name(), xmx, Files.readString(Path.of("/proc/loadavg")).strip());
        List<Result> results = new ArrayList<>();
        for (String config : configs) {
            QuantType stored = storedType(config);
            results.add(runChild(xmx, config, files.get(stored), args));
            System.out.println(results.getLast().line());
        }
        System.out.println();
        System.out.print(table(results));
        System.out.println();
        System.out.print(loadTable(results));
    }

    /**
     * The GGUF format a configuration loads: NF4 has no GGUF layout, so it loads F32 and quantizes (NF4E: the
     * token embedding quantized too).
     */
    static QuantType storedType(String config) {
        return switch (weights(config)) {
            case "F32", "NF4", "NF4E" -> QuantType.F32;
            case "Q4_0" -> QuantType.Q4_0;
            default -> throw new IllegalArgumentException("unknown configuration '" + config + "': one of " + CONFIGS);
        };
    }

    private static String weights(String config) {
        int dash = config.indexOf('-');
        String mode = dash < 0 ? "" : config.substring(0, dash);
        if (!mode.equals("infer") && !mode.equals("train")) {
            throw new IllegalArgumentException("unknown configuration '" + config + "': one of " + CONFIGS);
        }
        return config.substring(dash + 1);
    }

    private static Result runChild(String xmx, String config, Path file, String[] args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx" + xmx,
                "-XX:-AlwaysPreTouch", "-cp", System.getProperty("java.class.path"), MemoryBench.class.getName(),
                "--child", config, file.toString()));
        for (String key : new String[] {"--tokens", "--seq", "--steps", "--rank", "--targets", "--threads"}) {
            String v = opt(args, key, null);
            if (v != null) {
                cmd.addAll(List.of(key, v));
            }
        }
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int code = p.waitFor();
        return resultOf(config, code, output);
    }

    /** The result line of a child's output; throws with the output when the child failed or printed none. */
    static Result resultOf(String config, int exitCode, String output) {
        Result found = null;
        for (String line : output.split("\n")) {
            if (line.startsWith(RESULT_PREFIX)) {
                found = Result.parse(line.strip());
            }
        }
        if (exitCode != 0 || found == null) {
            throw new IllegalStateException("child for " + config + " exited with " + exitCode
                    + (found == null ? " without a result line" : "") + "; its output:\n" + output);
        }
        return found;
    }

    /** Markdown table of the results, each MiB figure with its ratio to the F32 configuration of the same mode. */
    static String table(List<Result> results) {
        Map<String, Result> byConfig = new LinkedHashMap<>();
        results.forEach(r -> byConfig.put(r.config(), r));
        var sb = new StringBuilder();
        sb.append("| configuration | weights as loaded MiB | peak RSS (VmHWM) MiB | vs F32 | RSS anon / file at end MiB "
                + "| peak heap MiB | vs F32 | peak non-heap MiB |\n");
        sb.append("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Result r : results) {
            Result f32 = byConfig.get(r.config().substring(0, r.config().indexOf('-')) + "-F32");
            sb.append(String.format(Locale.ROOT, "| %s | %.0f | %.0f | %s | %.0f / %.0f | %.0f | %s | %.0f |%n",
                    r.config(), mib(r.weightBytes()), r.hwmKib() / 1024.0,
                    f32 == null ? "–" : percent(r.hwmKib(), f32.hwmKib()),
                    r.rssAnonKib() / 1024.0, r.rssFileKib() / 1024.0, mib(r.heapPeakBytes()),
                    f32 == null ? "–" : percent(r.heapPeakBytes(), f32.heapPeakBytes()), mib(r.nonHeapPeakBytes())));
        }
        return sb.toString();
    }

    /**
     * Markdown table of the load figures ({@link Load}), each total with its ratio to the F32 weights of the model
     * (the weights of the F32 configuration; the "fp32 size").
     */
    static String loadTable(List<Result> results) {
        long fp32 = results.stream().filter(r -> weights(r.config()).equals("F32")).mapToLong(Result::weightBytes)
                .findFirst().orElse(0);
        var sb = new StringBuilder();
        sb.append("| configuration | heap before + allocated during load MiB | G1 pool peak MiB | live heap after "
                + "load MiB | off-heap MiB | mapped resident peak / end MiB | peak heap + off-heap + mapped MiB "
                + "| vs fp32 weights | live heap + off-heap + mapped MiB | vs fp32 weights |\n");
        sb.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Result r : results) {
            Load l = r.load();
            sb.append(String.format(Locale.ROOT, "| %s | %.0f + %.0f | %.0f | %.0f | %.0f | %.0f / %.0f | %.0f | %s "
                    + "| %.0f | %s |%n", r.config(), mib(l.heapBefore()), mib(l.allocated()), mib(l.heapPeak()),
                    mib(l.heapLive()), mib(l.offHeap()), mib(l.mappedPeak()),
                    mib(l.mappedEnd()), mib(l.peakTotal()), fp32 == 0 ? "–" : percent(l.peakTotal(), fp32),
                    mib(l.liveTotal()), fp32 == 0 ? "–" : percent(l.liveTotal(), fp32)));
        }
        return sb.toString();
    }

    private static String percent(long value, long reference) {
        return String.format(Locale.ROOT, "%.0f %%", 100.0 * value / reference);
    }

    private static double mib(long bytes) {
        return bytes / (1024.0 * 1024.0);
    }

    /** The value in KiB of {@code key} (VmHWM, RssAnon, …) in the text of /proc/[pid]/status. */
    static long statusKib(String procStatus, String key) {
        for (String line : procStatus.split("\n")) {
            if (line.startsWith(key + ":")) {
                String[] parts = line.substring(key.length() + 1).trim().split("\\s+");
                if (parts.length != 2 || !parts[1].equals("kB")) {
                    throw new IllegalArgumentException("/proc status line '" + line + "': expected '<n> kB'");
                }
                return Long.parseLong(parts[0]);
            }
        }
        throw new IllegalArgumentException("/proc status has no '" + key + ":' line");
    }

    private static void child(String[] args) throws IOException {
        String th = opt(args, "--threads", null);
        if (th != null) {
            System.setProperty("jlora.threads", th);
        }
        String config = args[1];
        Path file = Path.of(args[2]);
        String weights = weights(config);
        ModelLoader.LoadOptions options = weights.startsWith("NF4")
                ? ModelLoader.LoadOptions.withQuant("nf4").withQuantizedEmbedding(weights.equals("NF4E"))
                : ModelLoader.LoadOptions.DEFAULT;
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        System.gc();
        long heapBefore = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        ManagementFactory.getMemoryPoolMXBeans().forEach(MemoryPoolMXBean::resetPeakUsage);
        MappedSampler sampler = new MappedSampler(file.toRealPath());
        sampler.start();
        long allocatedBefore = threads.getTotalThreadAllocatedBytes();
        long samplerBefore = threads.getThreadAllocatedBytes(sampler.threadId());
        LlamaModel m = ModelLoader.load(file, options);
        // the sampler's own garbage (it reads /proc/self/smaps every 20 ms) is the bench's, not the load's
        long allocated = threads.getTotalThreadAllocatedBytes() - allocatedBefore
                - (threads.getThreadAllocatedBytes(sampler.threadId()) - samplerBefore);
        long mappedEnd = sampler.finish();
        long loadHeapPeak = heapPoolPeaks();
        System.gc();
        Load load = new Load(heapBefore, allocated, loadHeapPeak,
                ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed(), directBytes(), sampler.peak(),
                mappedEnd);
        if (config.startsWith("infer-")) {
            int tokens = Integer.parseInt(opt(args, "--tokens", "32"));
            var session = new InferenceSession(m, AdapterSet.NONE, tokens + 2);
            float[] logits = session.prefill(new int[] {1});
            for (int i = 0; i < tokens; i++) {
                logits = session.decode(Sampler.argmax(logits, logits.length));
            }
        } else {
            int T = Integer.parseInt(opt(args, "--seq", "128"));
            int rank = Integer.parseInt(opt(args, "--rank", "8"));
            var lora = new LoraConfig(rank, 2f * rank, 0f, false, LoraConfig.parseTargets(opt(args, "--targets", "q,k,v,o")));
            var adapters = TrainableAdapterSet.lora(m.weights(), lora, 1);
            var graph = new LlamaTrainGraph(m.config(), m.weights(), adapters, 1, T, false);
            var optimizer = AdamW.defaults();
            int[][] batch = TrainBench.randomBatch(m.config().vocabSize(), T, new SplittableRandom(3));
            for (int step = 0; step < Integer.parseInt(opt(args, "--steps", "2")); step++) {
                TrainBench.step(adapters, graph, optimizer, batch[0], batch[1], step);
            }
        }
        String status = Files.readString(Path.of("/proc/self/status"));
        long heap = 0, nonHeap = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            long peak = pool.getPeakUsage() == null ? 0 : pool.getPeakUsage().getUsed();
            if (pool.getType() == MemoryType.HEAP) {
                heap += peak;
            } else {
                nonHeap += peak;
            }
        }
        System.out.println(new Result(config, statusKib(status, "VmHWM"), statusKib(status, "RssAnon"),
                statusKib(status, "RssFile"), heap, nonHeap, m.weights().storageBytes(), load).line());
    }

    private static long heapPoolPeaks() {
        long sum = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() == MemoryType.HEAP && pool.getPeakUsage() != null) {
                sum += pool.getPeakUsage().getUsed();
            }
        }
        return sum;
    }

    /** Native memory the JDK accounts in its "direct" pool: ByteBuffers and {@code Arena.ofAuto} segments. */
    private static long directBytes() {
        for (BufferPoolMXBean pool : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (pool.getName().equals("direct")) {
                return pool.getMemoryUsed();
            }
        }
        throw new IllegalStateException("the JVM reports no 'direct' buffer pool");
    }

    /** Bytes of {@code file} resident in this process's mappings: the Rss lines of its entries in /proc/self/smaps. */
    static long mappedResidentBytes(String smaps, String file) {
        long kib = 0;
        boolean inFile = false;
        for (String line : smaps.split("\n")) {
            int dash = line.indexOf('-'), space = line.indexOf(' ');
            if (dash > 0 && space > dash && Character.digit(line.charAt(0), 16) >= 0 && line.indexOf(':') > space) {
                inFile = line.endsWith(" " + file);       // a mapping's header: range perms offset dev:inode path
            } else if (inFile && line.startsWith("Rss:")) {
                kib += statusKib(line, "Rss");
            }
        }
        return kib * 1024;
    }

    /** Samples the resident bytes of one mapped file every 20 ms on a daemon thread, keeping the maximum. */
    private static final class MappedSampler extends Thread {
        private final String file;
        private volatile boolean running = true;
        private volatile long peak;

        MappedSampler(Path file) {
            super("mapped-resident-sampler");
            setDaemon(true);
            this.file = file.toString();
        }

        @Override public void run() {
            while (running) {
                sample();
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        private long sample() {
            try {
                long now = mappedResidentBytes(Files.readString(Path.of("/proc/self/smaps")), file);
                peak = Math.max(peak, now);
                return now;
            } catch (IOException e) {
                throw new java.io.UncheckedIOException("reading /proc/self/smaps", e);
            }
        }

        /** Stops sampling; returns (and counts in the peak) one last sample. */
        long finish() {
            running = false;
            try {
                join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return sample();
        }

        long peak() {
            return peak;
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
