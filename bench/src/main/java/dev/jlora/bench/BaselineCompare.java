package dev.jlora.bench;

import dev.jlora.engine.io.Json;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import jdk.incubator.vector.FloatVector;

/**
 * Compares a JMH run (JSON, {@code -rf json}) with this CPU's stored baseline and prints speed ratios, flagging
 * regressions beyond both a threshold and the measured noise. Machines differ, so only ratios against a baseline of
 * the same CPU model and vector width mean anything: a baseline of another CPU is refused.
 *
 * <pre>
 * BaselineCompare record  RUN.json BASELINE.json            wrap a JMH run with this machine's description
 * BaselineCompare baseline-name                             this machine's baseline name (CPU model, vector width)
 * BaselineCompare compare BASELINE.json RUN.json [RERUN.json] [--threshold 0.10] [--suspects FILE]
 * </pre>
 * {@code scripts/bench.sh baseline} and {@code scripts/bench.sh regress} drive it (docs/PERFORMANCE.md,
 * "Regression runs"). Exit code of compare: 0 no regression, 1 regressions, 2 refused or bad input.
 *
 * <p>Rule: the speed ratio of a benchmark is baseline time / current time (or current / baseline throughput), so
 * 1.00 is unchanged and 0.80 is 20 % slower. JMH's {@code scoreError} is the half-width of a 99.9 % confidence
 * interval; the noise of a ratio is the two relative errors added in quadrature. A benchmark is a suspect when its
 * slowdown exceeds the threshold and the noise; with a re-run of the suspects, only those slower again in the
 * re-run are reported as regressions (one slow run on a shared machine is not a regression).
 */
public final class BaselineCompare {
    private BaselineCompare() {}

    /** What a baseline is valid for: the CPU model and the preferred vector width, plus context for the reader. */
    record Machine(String cpu, int vectorBits, int cpus, String jdk) {
        static Machine current() {
            String cpu = "unknown";
            try {
                for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                    if (line.startsWith("model name")) {
                        cpu = line.substring(line.indexOf(':') + 1).strip();
                        break;
                    }
                }
            } catch (IOException e) {
                cpu = System.getProperty("os.arch");
            }
            return new Machine(cpu, FloatVector.SPECIES_PREFERRED.vectorBitSize(),
                    Runtime.getRuntime().availableProcessors(), Runtime.version().toString());
        }

        /** The file name of this machine's baseline: CPU model and vector width, e.g. {@code intel-r-xeon-r-processor-512bit}. */
        String baselineName() {
            String slug = cpu.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-").replaceAll("^-|-$", "");
            return slug + "-" + vectorBits + "bit";
        }

        /** Same CPU model and vector width (core count and JDK may differ; the table says so). */
        boolean comparableTo(Machine o) {
            return cpu.equals(o.cpu) && vectorBits == o.vectorBits;
        }

        Map<String, Object> toJson() {
            var m = new LinkedHashMap<String, Object>();
            m.put("cpu", cpu);
            m.put("vector_bits", vectorBits);
            m.put("cpus", cpus);
            m.put("jdk", jdk);
            return m;
        }

        static Machine fromJson(Map<?, ?> m, String source) {
            Object cpu = m.get("cpu"), bits = m.get("vector_bits"), cpus = m.get("cpus"), jdk = m.get("jdk");
            if (!(cpu instanceof String c) || !(bits instanceof Number b)) {
                throw new IllegalArgumentException(source + ": machine needs 'cpu' (string) and 'vector_bits' (number)");
            }
            return new Machine(c, b.intValue(), cpus instanceof Number n ? n.intValue() : 0,
                    jdk instanceof String j ? j : "?");
        }
    }

    /** One JMH result: benchmark method, mode, parameters, score with its 99.9 % error, unit. */
    record Score(String benchmark, String mode, String params, double score, double error, String unit) {
        String key() {
            return benchmark + (params.isEmpty() ? "" : " " + params) + " [" + mode + "]";
        }

        double relativeError() {
            return Double.isFinite(error) && score != 0 ? Math.abs(error / score) : 0;
        }

        /** True when a smaller score is better (time per operation), false for throughput. */
        boolean lowerIsBetter() {
            return !mode.equals("thrpt");
        }
    }

    /** A stored baseline: the machine it was measured on and its scores. */
    record Baseline(Machine machine, List<Score> scores) {}

    /** Verdict of one benchmark. */
    enum Verdict { UNCHANGED, FASTER, SUSPECT, REGRESSION, NOISE_RERUN_OK, NEW, MISSING }

    /** One row of the comparison. */
    record Row(String key, Score baseline, Score current, double speedRatio, double noise, Verdict verdict) {}

    /** The comparison of a run (and optional re-run) with a baseline. */
    record Report(List<Row> rows) {
        List<Row> with(Verdict v) {
            return rows.stream().filter(r -> r.verdict == v).toList();
        }
    }

    /** Parses JMH's JSON array (as written by {@code -rf json}). */
    static List<Score> parseJmh(Object json, String source) {
        if (!(json instanceof List<?> runs)) {
            throw new IllegalArgumentException(source + ": expected JMH's JSON array of results, found "
                    + Json.typeName(json));
        }
        var out = new ArrayList<Score>();
        for (Object o : runs) {
            if (!(o instanceof Map<?, ?> r) || !(r.get("benchmark") instanceof String name)
                    || !(r.get("mode") instanceof String mode) || !(r.get("primaryMetric") instanceof Map<?, ?> pm)
                    || !(pm.get("score") instanceof Number score)) {
                throw new IllegalArgumentException(source + ": a result without benchmark, mode or primaryMetric.score");
            }
            var params = new TreeMap<String, String>();
            if (r.get("params") instanceof Map<?, ?> p) {
                p.forEach((k, v) -> params.put(String.valueOf(k), String.valueOf(v)));
            }
            double error = pm.get("scoreError") instanceof Number e ? e.doubleValue() : Double.NaN;
            String unit = pm.get("scoreUnit") instanceof String u ? u : "";
            String shortName = name.startsWith("dev.jlora.bench.") ? name.substring("dev.jlora.bench.".length()) : name;
            String paramText = params.isEmpty() ? "" : params.toString().replace("{", "").replace("}", "");
            out.add(new Score(shortName, mode, paramText, score.doubleValue(), error, unit));
        }
        return out;
    }

    static Baseline readBaseline(Path file) throws IOException {
        Object json = Json.read(file);
        if (!(json instanceof Map<?, ?> m) || !(m.get("machine") instanceof Map<?, ?> machine)) {
            throw new IllegalArgumentException(file + ": not a baseline (an object with 'machine' and 'results'; "
                    + "make one with scripts/bench.sh baseline)");
        }
        return new Baseline(Machine.fromJson(machine, file.toString()), parseJmh(m.get("results"), file.toString()));
    }

    /**
     * Compares {@code current} (and {@code rerun}, the re-run of the suspects, or null) with {@code baseline}.
     *
     * @param threshold slowdown tolerated regardless of noise, e.g. 0.10 for 10 %
     */
    static Report compare(Baseline baseline, Machine machine, List<Score> current, List<Score> rerun, double threshold) {
        if (!baseline.machine().comparableTo(machine)) {
            throw new IllegalArgumentException("the baseline was measured on '" + baseline.machine().cpu() + "' with "
                    + baseline.machine().vectorBits() + "-bit vectors, this machine is '" + machine.cpu() + "' with "
                    + machine.vectorBits() + "-bit vectors: ratios across CPUs mean nothing (record a baseline here "
                    + "with scripts/bench.sh baseline)");
        }
        Map<String, Score> base = byKey(baseline.scores()), now = byKey(current);
        Map<String, Score> again = rerun == null ? Map.of() : byKey(rerun);
        var rows = new ArrayList<Row>();
        for (var e : base.entrySet()) {
            Score b = e.getValue(), c = now.get(e.getKey());
            if (c == null) {
                rows.add(new Row(e.getKey(), b, null, Double.NaN, Double.NaN, Verdict.MISSING));
                continue;
            }
            double ratio = speedRatio(b, c), noise = noise(b, c);
            Verdict v = verdict(ratio, noise, threshold);
            if (v == Verdict.SUSPECT && again.containsKey(e.getKey())) {
                Score r = again.get(e.getKey());
                v = verdict(speedRatio(b, r), noise(b, r), threshold) == Verdict.SUSPECT
                        ? Verdict.REGRESSION : Verdict.NOISE_RERUN_OK;
            }
            rows.add(new Row(e.getKey(), b, c, ratio, noise, v));
        }
        for (var e : now.entrySet()) {
            if (!base.containsKey(e.getKey())) {
                rows.add(new Row(e.getKey(), null, e.getValue(), Double.NaN, Double.NaN, Verdict.NEW));
            }
        }
        return new Report(rows);
    }

    /** Baseline speed over current speed turned around: above 1 is faster now, below 1 slower. */
    static double speedRatio(Score baseline, Score current) {
        if (!baseline.unit().equals(current.unit()) || !baseline.mode().equals(current.mode())) {
            throw new IllegalArgumentException(baseline.key() + ": baseline in " + baseline.unit() + " (" + baseline.mode()
                    + "), run in " + current.unit() + " (" + current.mode() + "): run JMH with the same mode and unit");
        }
        return baseline.lowerIsBetter() ? baseline.score() / current.score() : current.score() / baseline.score();
    }

    private static double noise(Score a, Score b) {
        return Math.hypot(a.relativeError(), b.relativeError());
    }

    private static Verdict verdict(double ratio, double noise, double threshold) {
        double change = ratio < 1 ? 1 / ratio - 1 : ratio - 1;   // relative slowdown or speed-up
        if (change <= threshold || change <= noise) {
            return Verdict.UNCHANGED;
        }
        return ratio < 1 ? Verdict.SUSPECT : Verdict.FASTER;
    }

    private static Map<String, Score> byKey(List<Score> scores) {
        var m = new LinkedHashMap<String, Score>();
        for (Score s : scores) {
            m.put(s.key(), s);
        }
        return m;
    }

    /** The report as a Markdown table with a summary line. */
    static void print(Report report, Baseline baseline, Machine machine, double threshold, PrintStream out) {
        out.printf(Locale.ROOT, "baseline: %s, %d-bit vectors, %d CPUs, JDK %s%n", baseline.machine().cpu(),
                baseline.machine().vectorBits(), baseline.machine().cpus(), baseline.machine().jdk());
        out.printf(Locale.ROOT, "this run: %s, %d-bit vectors, %d CPUs, JDK %s; threshold %.0f %% and beyond noise%n%n",
                machine.cpu(), machine.vectorBits(), machine.cpus(), machine.jdk(), threshold * 100);
        out.println("| benchmark | baseline | now | unit | speed ratio | noise ± | verdict |");
        out.println("|---|---|---|---|---|---|---|");
        for (Row r : report.rows()) {
            out.printf(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s |%n", r.key(), num(r.baseline()), num(r.current()),
                    r.baseline() != null ? r.baseline().unit() : r.current().unit(),
                    Double.isNaN(r.speedRatio()) ? "–" : String.format(Locale.ROOT, "%.2f", r.speedRatio()),
                    Double.isNaN(r.noise()) ? "–" : String.format(Locale.ROOT, "%.0f %%", 100 * r.noise()),
                    r.verdict().name().toLowerCase(Locale.ROOT).replace('_', ' '));
        }
        out.printf(Locale.ROOT, "%n%d regression(s), %d suspect(s) not re-run, %d faster, %d unchanged, %d new, "
                        + "%d missing%n", report.with(Verdict.REGRESSION).size(), report.with(Verdict.SUSPECT).size(),
                report.with(Verdict.FASTER).size(), report.with(Verdict.UNCHANGED).size()
                        + report.with(Verdict.NOISE_RERUN_OK).size(), report.with(Verdict.NEW).size(),
                report.with(Verdict.MISSING).size());
    }

    private static String num(Score s) {
        return s == null ? "–" : String.format(Locale.ROOT, "%.4g", s.score());
    }

    public static void main(String[] args) throws IOException {
        try {
            System.exit(run(args, Machine.current(), System.out));
        } catch (IllegalArgumentException e) {
            System.err.println("bench: " + e.getMessage());
            System.exit(2);
        }
    }

    static int run(String[] args, Machine machine, PrintStream out) throws IOException {
        if (args.length == 1 && args[0].equals("baseline-name")) {
            out.println(machine.baselineName());
            return 0;
        }
        if (args.length == 3 && args[0].equals("record")) {
            var baseline = new LinkedHashMap<String, Object>();
            baseline.put("machine", machine.toJson());
            baseline.put("results", Json.read(Path.of(args[1])));
            parseJmh(baseline.get("results"), args[1]);   // a run that is not JMH's JSON fails before it is stored
            Files.createDirectories(Path.of(args[2]).toAbsolutePath().getParent());
            Files.writeString(Path.of(args[2]), Json.write(baseline));
            out.println("bench: baseline for '" + machine.cpu() + "' (" + machine.vectorBits() + "-bit) written to "
                    + args[2]);
            return 0;
        }
        if (args.length < 3 || !args[0].equals("compare")) {
            throw new IllegalArgumentException("usage: BaselineCompare record RUN.json BASELINE.json | compare "
                    + "BASELINE.json RUN.json [RERUN.json] [--threshold 0.10] [--suspects FILE]");
        }
        double threshold = 0.10;
        Path suspects = null, rerun = null;
        for (int i = 3; i < args.length; i++) {
            switch (args[i]) {
                case "--threshold" -> threshold = Double.parseDouble(args[++i]);
                case "--suspects" -> suspects = Path.of(args[++i]);
                default -> rerun = Path.of(args[i]);
            }
        }
        Baseline baseline = readBaseline(Path.of(args[1]));
        List<Score> current = parseJmh(Json.read(Path.of(args[2])), args[2]);
        List<Score> again = rerun == null ? null : parseJmh(Json.read(rerun), rerun.toString());
        Report report = compare(baseline, machine, current, again, threshold);
        print(report, baseline, machine, threshold, out);
        if (suspects != null) {
            // JMH include patterns (regular expressions of the full benchmark name) of the suspects, one a line
            var lines = report.with(Verdict.SUSPECT).stream()
                    .map(r -> "dev\\.jlora\\.bench\\." + r.current().benchmark().replace(".", "\\.") + "$")
                    .distinct().toList();
            Files.write(suspects, lines);
        }
        return report.with(Verdict.REGRESSION).isEmpty() && report.with(Verdict.SUSPECT).isEmpty() ? 0 : 1;
    }
}
