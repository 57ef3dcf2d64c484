package dev.jlora.cli;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.JsonParseException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The results of {@code jlora compare}: what each run measured, read from its metrics.jsonl and its
 * {@link CompareRun} file, rendered as DIR/compare.md (a Markdown table with the command, date and machine) and
 * DIR/compare.json (the same numbers, machine-readable).
 */
record CompareReport(String command, ZonedDateTime date, List<CompareCommand.Result> results) {

    /**
     * Reads one run's metrics.jsonl: mean step time over its steps ({@code step_seconds}), tokens/s as all tokens over
     * all step time, the final training loss as the mean of the last ⌈steps/10⌉ finite losses (one step's loss is one
     * batch's), and the last eval loss (NaN when the run held out no rows).
     */
    static CompareCommand.Result measure(CompareCommand.Spec spec, long trainable, long peakHeap, long peakHeapAfterGc,
                                         Path metricsJsonl) throws IOException {
        var losses = new ArrayList<Double>();
        double seconds = 0, tokens = 0, evalLoss = Double.NaN;
        int steps = 0;
        for (String line : Files.readAllLines(metricsJsonl, StandardCharsets.UTF_8)) {
            if (line.isBlank()) {
                continue;
            }
            Map<String, Object> m;
            try {
                m = Json.parseObject(line, Json.Limits.DEFAULT, metricsJsonl.toString());
            } catch (JsonParseException e) {
                throw new IOException(metricsJsonl + ": unreadable line: " + e.getMessage(), e);
            }
            Object loss = m.get("loss");
            if ("train".equals(m.get("kind"))) {
                steps++;
                double secs = number(m, "step_seconds", metricsJsonl);
                seconds += secs;
                tokens += number(m, "tokens_per_s", metricsJsonl) * secs;
                if (loss instanceof Number n && Double.isFinite(n.doubleValue())) {
                    losses.add(n.doubleValue());
                }
            } else if ("eval".equals(m.get("kind"))) {
                evalLoss = loss instanceof Number n ? n.doubleValue() : Double.NaN;
            }
        }
        int tail = Math.max(1, (steps + 9) / 10);
        double finalLoss = losses.subList(Math.max(0, losses.size() - tail), losses.size()).stream()
                .mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
        return new CompareCommand.Result(spec, 0, trainable, peakHeap, peakHeapAfterGc, steps,
                steps == 0 ? Double.NaN : seconds / steps,
                seconds == 0 ? Double.NaN : tokens / seconds, finalLoss, evalLoss);
    }

    private static double number(Map<String, Object> m, String key, Path file) throws IOException {
        if (!(m.get(key) instanceof Number n)) {
            throw new IOException(file + ": train line without a numeric '" + key + "': " + m);
        }
        return n.doubleValue();
    }

    /** The machine: CPU model (Linux /proc/cpuinfo, else the architecture), cores, OS, Java. */
    static String machine() {
        String cpu = System.getProperty("os.arch");
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    cpu = line.substring(line.indexOf(':') + 1).strip();
                    break;
                }
            }
        } catch (IOException | RuntimeException notLinux) {
            // keep the architecture
        }
        return cpu + ", " + Runtime.getRuntime().availableProcessors() + " cores available, "
                + System.getProperty("os.name") + ", Java " + Runtime.version();
    }

    String markdown() {
        var sb = new StringBuilder();
        sb.append("# jlora compare\n\n");
        sb.append("```\n").append(command).append("\n```\n\n");
        sb.append("- date: ").append(CompareCommand.date(date)).append('\n');
        sb.append("- machine: ").append(machine()).append('\n');
        sb.append("- each method ran as `jlora train` in a fresh JVM with the same data, seed, steps and training "
                + "options; curves in `compare.svg`, numbers in `compare.json`, each run's log in `<method>/train.log`\n\n");
        sb.append("| method | init | trainable params | peak heap (MiB) | peak heap after GC (MiB) | mean step (ms) "
                + "| tokens/s | final train loss | eval loss | eval perplexity |\n");
        sb.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (CompareCommand.Result r : results) {
            if (r.exitCode() != 0) {
                sb.append(String.format(Locale.ROOT, "| %s | %s | failed (exit code %d, see `%s/train.log`) | | | | | | | |%n",
                        r.spec().label(), initColumn(r.spec()), r.exitCode(), r.spec().folder()));
                continue;
            }
            sb.append(String.format(Locale.ROOT, "| %s | %s | %,d | %.1f | %s | %.1f | %,.0f | %s | %s | %s |%n",
                    r.spec().label(), initColumn(r.spec()), r.trainableParameters(), r.peakHeapBytes() / 1048576.0,
                    CompareCommand.mib(r.peakHeapAfterGcBytes()), r.meanStepSeconds() * 1e3, r.tokensPerSecond(), CompareCommand.number(r.finalTrainLoss(), 4),
                    CompareCommand.number(r.evalLoss(), 4), CompareCommand.number(Math.exp(r.evalLoss()), 2)));
        }
        sb.append("""

                How the columns are measured:
                - trainable params: the adapter set's trainable scalars (shared tensors such as MoS's pools counted once).
                - peak heap: the sum over the child JVM's heap pools of `MemoryPoolMXBean.getPeakUsage().getUsed()` at the
                  end of the run (model load, training and eval). A fresh JVM per method makes this that run's own
                  high-water mark; pools can peak at different moments, so the sum is an upper bound, and it counts
                  garbage not yet collected, so it grows with the heap size (`-Xmx`) the JVMs were given.
                - peak heap after GC: the largest heap in use right after any garbage collection of the run (from the
                  collectors' notifications): closer to what the run needs live; n/a when no collection ran.
                - mean step time: the mean wall time of an optimizer step (`step_seconds` in metrics.jsonl), warm-up
                  steps included; tokens/s: all training tokens over all step time.
                - final train loss: the mean of the last ⌈steps/10⌉ logged step losses, which include a method's own
                  auxiliary or regulariser terms (AdaLoRA's orthogonal regulariser, the mixtures' balancing losses); eval
                  loss and perplexity: the plain language-model loss on the held-out rows at the last step (n/a without
                  held-out rows), the column to compare methods by.
                """);
        return sb.toString();
    }

    /** The init, or "own" for a method that has its own initialisation (--init applies to lora and dora only). */
    private static String initColumn(CompareCommand.Spec spec) {
        return AdapterMethods.method(spec.method()).acceptsInit() ? spec.init() : "own";
    }

    String json() {
        var runs = new ArrayList<Object>();
        for (CompareCommand.Result r : results) {
            var m = new LinkedHashMap<String, Object>();
            m.put("label", r.spec().label());
            m.put("method", r.spec().method());
            m.put("init", r.spec().init());
            m.put("dynamics", List.copyOf(r.spec().dynamics()));
            m.put("method_args", new LinkedHashMap<>(r.spec().args()));
            m.put("dynamics_args", new LinkedHashMap<>(r.spec().dynamicsArgs()));
            m.put("exit_code", (long) r.exitCode());
            if (r.exitCode() == 0) {
                m.put("trainable_parameters", r.trainableParameters());
                m.put("peak_heap_bytes", r.peakHeapBytes());
                m.put("peak_heap_after_gc_bytes", r.peakHeapAfterGcBytes() < 0 ? null : r.peakHeapAfterGcBytes());
                m.put("steps", (long) r.steps());
                m.put("mean_step_seconds", finiteOrNull(r.meanStepSeconds()));
                m.put("tokens_per_second", finiteOrNull(r.tokensPerSecond()));
                m.put("final_train_loss", finiteOrNull(r.finalTrainLoss()));
                m.put("eval_loss", finiteOrNull(r.evalLoss()));
                m.put("eval_perplexity", finiteOrNull(Math.exp(r.evalLoss())));
            }
            runs.add(m);
        }
        var root = new LinkedHashMap<String, Object>();
        root.put("command", command);
        root.put("date", date.toString());
        root.put("machine", machine());
        root.put("runs", runs);
        return Json.writePretty(root) + "\n";
    }

    private static Object finiteOrNull(double v) {
        return Double.isFinite(v) ? v : null;
    }
}
