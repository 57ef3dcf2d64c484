package dev.jlora.cli;

import dev.jlora.engine.adapter.AdapterInit;
import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.dynamics.TrainingMethods;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.train.LossPlot;
import dev.jlora.loaders.io.AtomicFile;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code jlora compare MODEL --data FILE.jsonl --methods lora,dora,pissa --steps N --out DIR [-- TRAIN_OPTIONS]}:
 * trains every method with the same data, seed, step budget and training options, each as {@code jlora train} in a
 * fresh child JVM ({@link CompareRun}), and writes DIR/compare.md, DIR/compare.json and DIR/compare.svg.
 *
 * <p>Why a child JVM per method: the heap high-water mark of one run is only measurable in a JVM that ran nothing
 * else (the peak of each heap pool, {@code MemoryPoolMXBean.getPeakUsage}, cannot be reset for what a garbage
 * collector has not yet freed), and the JIT warms up the same way for every method, so step times compare fairly.
 */
@Command(name = "compare", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train several adapter methods with the same data, seed, step budget and training options, and "
                + "compare them.",
                "Each method runs as 'jlora train' in a fresh JVM (DIR/<method>/: adapter, metrics.jsonl, train.log). "
                        + "Writes DIR/compare.md (trainable parameters, peak heap, mean step time, tokens/s, final "
                        + "train loss, eval loss and perplexity), DIR/compare.json and DIR/compare.svg (one loss curve "
                        + "per method). Options after -- go to 'jlora train' for every method (e.g. -- --rank 4 "
                        + "--seq-len 64 --lr 1e-3)."})
final class CompareCommand implements Callable<Integer> {
    /** Options that compare sets per method itself: not accepted after {@code --}. */
    private static final Set<String> OWN = Set.of("--data", "--out", "--method", "--init", "--method-arg", "--steps",
            "--seed", "--resume", "--dynamics", "--dynamics-arg");

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "GGUF file, Hugging Face directory, or 'demo'")
    String model;

    @Parameters(index = "1..*", paramLabel = "TRAIN_OPTION",
            description = "After --: options of 'jlora train' applied to every method")
    List<String> trainOptions = new ArrayList<>();

    @Option(names = "--data", required = true, paramLabel = "FILE.jsonl", description = "Training data (JSON Lines)")
    Path data;

    @Option(names = "--methods", required = true, split = ",", paramLabel = "SPEC",
            description = "Methods to compare: a method (lora, dora, vera, …), method:init (lora:pissa) or an init "
                    + "name alone for LoRA with that init (pissa, olora, gaussian, eva, lora-ga), each optionally with "
                    + "+DYNAMICS (lora+loraplus)")
    List<String> methods;

    @Option(names = "--steps", defaultValue = "100", description = "Optimizer steps per method (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder")
    Path out;

    @Option(names = "--seed", defaultValue = "42",
            description = "Seed of init, data order and dropout, the same for every method (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--method-arg", paramLabel = "SPEC.KEY=VALUE",
            description = "Hyper-parameter for one method, repeatable: mos.equivalent_rank=2 (SPEC is a --methods "
                    + "entry or a method name; keys of its +DYNAMICS go to --dynamics-arg)")
    Map<String, String> methodArgs = new LinkedHashMap<>();

    /**
     * One entry of --methods: its label (also its folder name), method, init, training dynamics and own
     * hyper-parameters ({@code args} for --method-arg, {@code dynamicsArgs} for --dynamics-arg).
     */
    record Spec(String label, String method, String init, List<String> dynamics, Map<String, String> args,
                Map<String, String> dynamicsArgs) {
        String folder() {
            return label.replace(':', '-');
        }
    }

    /** What one run measured; NaN where a value is missing (no eval rows, failed run). */
    record Result(Spec spec, int exitCode, long trainableParameters, long peakHeapBytes, long peakHeapAfterGcBytes,
                  int steps, double meanStepSeconds, double tokensPerSecond, double finalTrainLoss, double evalLoss) {}

    @Override
    public Integer call() throws Exception {
        PrintStream o = System.out;
        if (steps <= 0) {
            throw new IllegalArgumentException("--steps must be positive, got " + steps);
        }
        List<Spec> specs = specs(methods, methodArgs);
        for (String opt : trainOptions) {
            String name = opt.contains("=") ? opt.substring(0, opt.indexOf('=')) : opt;
            if (OWN.contains(name)) {
                throw new IllegalArgumentException("option " + name + " after -- is set by compare itself: use "
                        + "compare's own " + (name.startsWith("--method") || name.startsWith("--init")
                        || name.startsWith("--dynamics") ? "--methods and --method-arg" : name));
            }
        }
        // Fail fast on a mistyped training option: parse the first child's command line here.
        try {
            new CommandLine(new TrainCommand()).parseArgs(trainArgs(specs.getFirst()).toArray(String[]::new));
        } catch (CommandLine.ParameterException e) {
            throw new IllegalArgumentException("training options after --: " + e.getMessage(), e);
        }
        Files.createDirectories(out);
        var results = new ArrayList<Result>();
        for (int i = 0; i < specs.size(); i++) {
            Spec s = specs.get(i);
            o.printf(Locale.ROOT, "[%d/%d] %s: training %d steps in a fresh JVM (log: %s)%n", i + 1, specs.size(),
                    s.label(), steps, out.resolve(s.folder()).resolve("train.log"));
            o.flush();
            Result r = runOne(s);
            results.add(r);
            o.println(r.exitCode() == 0
                    ? String.format(Locale.ROOT, "      %,d trainable, peak heap %.1f MiB (after GC %s MiB), %.1f ms/step, "
                    + "final loss %.4f, eval loss %s", r.trainableParameters(), r.peakHeapBytes() / 1048576.0,
                    mib(r.peakHeapAfterGcBytes()), r.meanStepSeconds() * 1e3, r.finalTrainLoss(), number(r.evalLoss(), 4))
                    : "      failed with exit code " + r.exitCode() + ": see its train.log");
        }
        // originalArgs are the whole command line's (from "compare" on when run through Main)
        var args = spec.commandLine().getParseResult().originalArgs();
        String command = "jlora " + (args.isEmpty() || !args.getFirst().equals("compare") ? "compare " : "")
                + String.join(" ", args);
        var report = new CompareReport(command, ZonedDateTime.now(ZoneOffset.UTC), results);
        AtomicFile.writeString(out.resolve("compare.md"), report.markdown());
        AtomicFile.writeString(out.resolve("compare.json"), report.json());
        var curves = new LinkedHashMap<String, Path>();
        for (Result r : results) {
            Path metrics = out.resolve(r.spec().folder()).resolve("metrics.jsonl");
            if (r.exitCode() == 0 && Files.exists(metrics)) {
                curves.put(r.spec().label(), metrics);
            }
        }
        AtomicFile.writeString(out.resolve("compare.svg"),
                LossPlot.renderRuns(curves, "jlora compare: training loss (" + model + ", " + steps + " steps)"));
        o.printf("wrote %s, %s and %s%n", out.resolve("compare.md"), out.resolve("compare.json"), out.resolve("compare.svg"));
        return results.stream().allMatch(r -> r.exitCode() == 0) ? 0 : 1;
    }

    /** Parses --methods and attaches each --method-arg to the specs it names (label first, then method name). */
    static List<Spec> specs(List<String> methods, Map<String, String> methodArgs) {
        var specs = new ArrayList<Spec>();
        var labels = new LinkedHashSet<String>();
        for (String m : methods) {
            Spec s = parseSpec(m);
            if (!labels.add(s.label())) {
                throw new IllegalArgumentException("--methods lists '" + s.label() + "' twice");
            }
            specs.add(s);
        }
        for (var e : methodArgs.entrySet()) {
            int dot = e.getKey().indexOf('.');
            if (dot <= 0 || dot == e.getKey().length() - 1) {
                throw new IllegalArgumentException("--method-arg '" + e.getKey() + "=" + e.getValue()
                        + "': expected SPEC.KEY=VALUE, e.g. mos.equivalent_rank=2");
            }
            String target = e.getKey().substring(0, dot), key = e.getKey().substring(dot + 1);
            boolean byLabel = labels.contains(target);
            int matched = 0;
            for (Spec s : specs) {
                if (byLabel ? s.label().equals(target) : s.method().equals(target)) {
                    boolean forDynamics = TrainingMethods.dynamics().stream()
                            .anyMatch(k -> s.dynamics().contains(k.name()) && k.keys().containsKey(key));
                    (forDynamics ? s.dynamicsArgs() : s.args()).put(key, e.getValue());
                    matched++;
                }
            }
            if (matched == 0) {
                throw new IllegalArgumentException("--method-arg '" + e.getKey() + "': no entry of --methods is '"
                        + target + "' (have " + labels + ")");
            }
        }
        return specs;
    }

    /**
     * {@code method}, {@code method:init}, or an init name alone (LoRA with that init), each optionally followed by
     * {@code +dynamics} (repeatable: {@code lora+loraplus}).
     */
    static Spec parseSpec(String text) {
        String label = text.trim().toLowerCase(Locale.ROOT);
        String[] parts = label.split("\\+", -1);
        String t = parts[0];
        if (t.isEmpty()) {
            throw new IllegalArgumentException("--methods has an empty entry" + (label.isEmpty() ? "" : ": '" + text + "'"));
        }
        var dynamics = new ArrayList<String>();
        var known = TrainingMethods.dynamics().stream().map(TrainingMethods.Kind::name).toList();
        for (int i = 1; i < parts.length; i++) {
            if (!known.contains(parts[i])) {
                throw new IllegalArgumentException("--methods '" + text + "': unknown training dynamics '" + parts[i]
                        + "', expected one of " + known);
            }
            dynamics.add(parts[i]);
        }
        int colon = t.indexOf(':');
        if (colon >= 0) {
            String method = AdapterMethods.method(t.substring(0, colon)).name();
            String init = initName(t.substring(colon + 1));
            return new Spec(label, method, init, dynamics, new LinkedHashMap<>(), new LinkedHashMap<>());
        }
        boolean isMethod = AdapterMethods.methods().stream().anyMatch(m -> m.name().equals(t));
        if (isMethod) {
            return new Spec(label, t, "kaiming", dynamics, new LinkedHashMap<>(), new LinkedHashMap<>());
        }
        try {
            return new Spec(label, "lora", initName(t), dynamics, new LinkedHashMap<>(), new LinkedHashMap<>());
        } catch (IllegalArgumentException notInit) {
            throw new IllegalArgumentException("--methods: '" + text + "' is neither an adapter method "
                    + AdapterMethods.methods().stream().map(AdapterMethods.Method::name).toList()
                    + " nor an init (kaiming, gaussian, pissa, pissa_niter_N, olora, "
                    + String.join(", ", new java.util.TreeSet<>(AdapterMethods.DATA_INITS.keySet())) + ")");
        }
    }

    /** An init as {@code --init} takes it: one of {@link AdapterInit#parse}, or one computed from the data (eva, …). */
    private static String initName(String name) {
        return AdapterMethods.DATA_INITS.containsKey(name) ? name : AdapterInit.parse(name).name();
    }

    /** The {@code jlora train} arguments of one spec (without the leading "train"). */
    List<String> trainArgs(Spec s) {
        var a = new ArrayList<>(List.of(model, "--data", data.toString(), "--out", out.resolve(s.folder()).toString(),
                "--method", s.method(), "--init", s.init(), "--steps", Integer.toString(steps),
                "--seed", Long.toString(seed)));
        for (var e : s.args().entrySet()) {
            a.add("--method-arg");
            a.add(e.getKey() + "=" + e.getValue());
        }
        if (!s.dynamics().isEmpty()) {
            a.add("--dynamics");
            a.add(String.join(",", s.dynamics()));
        }
        for (var e : s.dynamicsArgs().entrySet()) {
            a.add("--dynamics-arg");
            a.add(e.getKey() + "=" + e.getValue());
        }
        a.addAll(trainOptions);
        return a;
    }

    /** Runs one spec in a child JVM and reads what it measured. */
    private Result runOne(Spec s) throws IOException, InterruptedException {
        Path dir = out.resolve(s.folder());
        Files.createDirectories(dir);
        Files.deleteIfExists(dir.resolve("metrics.jsonl"));   // a re-run must not append to an older run's curve
        Path runFile = dir.resolve(CompareRun.FILE_NAME);
        Files.deleteIfExists(runFile);
        var cmd = new ArrayList<>(childJvm());
        cmd.add(CompareRun.class.getName());
        cmd.add(runFile.toString());
        cmd.addAll(trainArgs(s));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(dir.resolve("train.log").toFile()).start();
        Thread stopChild = new Thread(p::destroy, "jlora-compare-stop-child");
        Runtime.getRuntime().addShutdownHook(stopChild);
        int code;
        try {
            code = p.waitFor();
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(stopChild);
            } catch (IllegalStateException shuttingDown) {
                // the hook is stopping the child already
            }
        }
        if (code != 0 || !Files.exists(runFile)) {
            return new Result(s, code == 0 ? 1 : code, -1, -1, -1, 0, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
        }
        Map<String, Object> run = Json.readObject(runFile);
        long afterGc = run.get("peak_heap_after_gc_bytes") instanceof Number n ? n.longValue() : -1;
        return CompareReport.measure(s, ((Number) run.get("trainable_parameters")).longValue(),
                ((Number) run.get("peak_heap_bytes")).longValue(), afterGc, dir.resolve("metrics.jsonl"));
    }

    /**
     * java with this JVM's module and memory settings: the incubator module, native access, and any -Xmx, -Xms, -Xss, -XX:
     * and -Djlora. flags this JVM was started with (so JLORA_JAVA_OPTS reach the children), then this classpath.
     */
    static List<String> childJvm() {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        var cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"));
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (arg.startsWith("-Xmx") || arg.startsWith("-Xms") || arg.startsWith("-Xss") || arg.startsWith("-XX:")
                    || arg.startsWith("-Djlora.")) {
                cmd.add(arg);
            }
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        return cmd;
    }

    /** Bytes as MiB with one decimal, n/a when negative (not measured). */
    static String mib(long bytes) {
        return bytes < 0 ? "n/a" : String.format(Locale.ROOT, "%.1f", bytes / 1048576.0);
    }

    static String number(double v, int decimals) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%." + decimals + "f", v) : "n/a";
    }

    static String date(ZonedDateTime t) {
        return t.format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'", Locale.ROOT));
    }
}
