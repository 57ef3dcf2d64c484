package dev.jlora.engine.train;

import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.JsonParseException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Draws the {@code metrics.jsonl} written by {@link Trainer} as a self-contained SVG line chart: training loss per
 * step (a polyline, broken at steps whose loss is NaN or infinite, which get a red mark on the step axis), eval loss
 * (round markers joined by a dashed line), axes with "nice" ticks, a legend and a title. Plain SVG 1.1 text, no
 * scripts, fonts or external references, so browsers and converters (rsvg, ImageMagick) show the same picture.
 *
 * <p>Only this class's reader of the metrics exists; it parses each line with {@link Json} and skips lines that are
 * not train/eval entries of the trainer (a torn last line after a kill, foreign lines). Where the step numbers go
 * back (a fresh run appended to the same folder without {@code --resume}), the plot shows the newest run only.
 */
public final class LossPlot {
    /** File name the CLI writes next to {@code metrics.jsonl}. */
    public static final String FILE_NAME = "loss.svg";

    static final int WIDTH = 800;
    static final int HEIGHT = 480;
    static final double LEFT = 84, RIGHT = 24, TOP = 48, BOTTOM = 56;
    private static final String EVAL_COLOR = "#d62728";
    private static final String BAD_COLOR = "#ff7f0e";

    private LossPlot() {}

    /** One logged loss; {@code loss} may be NaN or infinite for a skipped training step. */
    record Point(long step, double loss) {}

    /** The losses of one run, in logging order. */
    record Series(List<Point> train, List<Point> eval) {}

    /** One run of a comparison: its legend label and its losses. */
    record Run(String label, Series series) {}

    /** Colours of the runs of a comparison, in order (Tableau 10); the single-run chart uses the first and red. */
    private static final String[] RUN_COLORS = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
            "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

    /** Renders the metrics file of a run (see the class comment for what is read) as SVG text. */
    public static String render(Path metricsJsonl, String title) throws IOException {
        return render(read(metricsJsonl), title);
    }

    /**
     * Renders several runs' metrics files on one chart (for {@code jlora compare}): one colour per run, its training
     * loss as a solid line and its eval losses as dots on a dashed line of the same colour; the legend names the runs
     * in the map's order.
     */
    public static String renderRuns(Map<String, Path> metricsByLabel, String title) throws IOException {
        var runs = new ArrayList<Run>();
        for (var e : metricsByLabel.entrySet()) {
            runs.add(new Run(e.getKey(), read(e.getValue())));
        }
        return render(runs, title);
    }

    /** Reads train and eval losses from a trainer's metrics.jsonl. */
    static Series read(Path metricsJsonl) throws IOException {
        var train = new ArrayList<Point>();
        var eval = new ArrayList<Point>();
        long lastTrainStep = Long.MIN_VALUE;
        for (String line : Files.readAllLines(metricsJsonl, StandardCharsets.UTF_8)) {
            if (line.isBlank()) {
                continue;
            }
            Map<String, Object> m;
            try {
                m = Json.parseObject(line, Json.Limits.DEFAULT, metricsJsonl.getFileName().toString());
            } catch (JsonParseException e) {
                continue;   // torn line of a killed run: nothing to plot from it
            }
            if (!(m.get("step") instanceof Number stepNum)) {
                continue;
            }
            long step = stepNum.longValue();
            double loss = lossOf(m.get("loss"));
            Object kind = m.get("kind");
            if ("train".equals(kind)) {
                if (step <= lastTrainStep) {   // a new run appended to the folder: plot that one
                    train.clear();
                    eval.clear();
                }
                lastTrainStep = step;
                train.add(new Point(step, loss));
            } else if ("eval".equals(kind) && Double.isFinite(loss)) {
                eval.add(new Point(step, loss));
            }
        }
        return new Series(List.copyOf(train), List.copyOf(eval));
    }

    /** The trainer writes finite losses as numbers and NaN/Infinity as strings ({@code Double.toString}). */
    private static double lossOf(Object v) {
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        if (v instanceof String s) {
            return switch (s) {
                case "Infinity" -> Double.POSITIVE_INFINITY;
                case "-Infinity" -> Double.NEGATIVE_INFINITY;
                default -> Double.NaN;
            };
        }
        return Double.NaN;
    }

    /** The chart of {@code s} as SVG text. */
    static String render(Series s, String title) {
        return render(List.of(new Run("", s)), title);
    }

    /**
     * The chart of {@code runs} as SVG text. One run is drawn as the single-run chart (training loss blue, eval red,
     * legend "training loss (N steps)" and "eval loss"); several get one colour each and a legend entry per run.
     */
    static String render(List<Run> runs, String title) {
        boolean single = runs.size() == 1;
        double yMin = Double.POSITIVE_INFINITY, yMax = Double.NEGATIVE_INFINITY;
        long xMax = 1;
        var lists = new ArrayList<List<Point>>();
        for (Run r : runs) {
            lists.add(r.series().train());
            lists.add(r.series().eval());
        }
        for (List<Point> list : lists) {
            for (Point p : list) {
                xMax = Math.max(xMax, p.step());
                if (Double.isFinite(p.loss())) {
                    yMin = Math.min(yMin, p.loss());
                    yMax = Math.max(yMax, p.loss());
                }
            }
        }
        boolean any = yMin <= yMax;
        if (!any) {
            yMin = 0;
            yMax = 1;
        }
        Axis y = Axis.of(yMin, yMax, 6, false);
        Axis x = Axis.of(0, xMax, 8, true);
        double pw = WIDTH - LEFT - RIGHT, ph = HEIGHT - TOP - BOTTOM;

        var sb = new StringBuilder(4096 + 16 * lists.stream().mapToInt(List::size).sum());
        sb.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        sb.append(fmt("<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
                + "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n", WIDTH, HEIGHT, WIDTH, HEIGHT));
        sb.append("<title>").append(escape(title)).append("</title>\n");
        sb.append(fmt("<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"white\"/>\n", WIDTH, HEIGHT));
        sb.append(fmt("<text x=\"%.1f\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">%s"
                + "</text>\n", WIDTH / 2.0, escape(title)));

        // grid, ticks and labels
        sb.append("<g class=\"grid\" stroke=\"#e0e0e0\" stroke-width=\"1\">\n");
        for (double t : y.ticks()) {
            double py = py(y, t, ph);
            sb.append(fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", LEFT, py, LEFT + pw, py));
        }
        for (double t : x.ticks()) {
            double px = px(x, t, pw);
            sb.append(fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", px, TOP, px, TOP + ph));
        }
        sb.append("</g>\n<g class=\"axes\" stroke=\"#333333\" stroke-width=\"1\">\n");
        sb.append(fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", LEFT, TOP + ph, LEFT + pw, TOP + ph));
        sb.append(fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", LEFT, TOP, LEFT, TOP + ph));
        sb.append("</g>\n<g class=\"y-ticks\" text-anchor=\"end\">\n");
        for (double t : y.ticks()) {
            sb.append(fmt("<text x=\"%.2f\" y=\"%.2f\">%s</text>\n", LEFT - 6, py(y, t, ph) + 4, y.label(t)));
        }
        sb.append("</g>\n<g class=\"x-ticks\" text-anchor=\"middle\">\n");
        for (double t : x.ticks()) {
            sb.append(fmt("<text x=\"%.2f\" y=\"%.2f\">%s</text>\n", px(x, t, pw), TOP + ph + 18, x.label(t)));
        }
        sb.append("</g>\n");
        sb.append(fmt("<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">step</text>\n", LEFT + pw / 2, HEIGHT - 12.0));
        sb.append(fmt("<text x=\"16\" y=\"%.2f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.2f)\">loss</text>\n",
                TOP + ph / 2, TOP + ph / 2));

        // per run: training loss, one polyline per stretch of finite losses (a lone point gets a dot); eval loss
        int bad = 0;
        for (int k = 0; k < runs.size(); k++) {
            Series s = runs.get(k).series();
            String trainColor = RUN_COLORS[k % RUN_COLORS.length], evalColor = single ? EVAL_COLOR : trainColor;
            var stretch = new ArrayList<Point>();
            for (Point p : s.train()) {
                if (Double.isFinite(p.loss())) {
                    stretch.add(p);
                } else {
                    bad++;
                    trainRun(sb, stretch, x, y, pw, ph, trainColor);
                    stretch.clear();
                    double px = px(x, p.step(), pw);
                    sb.append(fmt("<line class=\"nonfinite\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                            + "stroke=\"%s\" stroke-width=\"2\"/>\n", px, TOP + ph - 8, px, TOP + ph, BAD_COLOR));
                }
            }
            trainRun(sb, stretch, x, y, pw, ph, trainColor);
            if (!s.eval().isEmpty()) {
                var pts = new StringBuilder();
                for (Point p : s.eval()) {
                    pts.append(fmt("%.2f,%.2f ", px(x, p.step(), pw), py(y, p.loss(), ph)));
                }
                sb.append(fmt("<polyline class=\"eval-line\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" "
                        + "stroke-dasharray=\"6 4\" points=\"%s\"/>\n", evalColor, pts.toString().strip()));
                for (Point p : s.eval()) {
                    sb.append(fmt("<circle class=\"eval\" cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\" stroke=\"white\" "
                            + "stroke-width=\"1\"/>\n", px(x, p.step(), pw), py(y, p.loss(), ph), evalColor));
                }
            }
        }
        if (!any) {
            boolean noSteps = runs.stream().allMatch(r -> r.series().train().isEmpty());
            sb.append(fmt("<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" fill=\"#666666\">%s</text>\n",
                    LEFT + pw / 2, TOP + ph / 2, noSteps ? "no training steps logged" : "no finite loss"));
        }

        // legend: {kind, text, colour}, in the emptiest corner of the plot area
        var entries = new ArrayList<String[]>();
        boolean anyEval = runs.stream().anyMatch(r -> !r.series().eval().isEmpty());
        if (single) {
            Series s = runs.getFirst().series();
            entries.add(new String[] {"train", "training loss (" + s.train().size() + " steps)", RUN_COLORS[0]});
            if (anyEval) {
                entries.add(new String[] {"eval", "eval loss", EVAL_COLOR});
            }
        } else {
            for (int k = 0; k < runs.size(); k++) {
                entries.add(new String[] {"train", runs.get(k).label() + " (" + runs.get(k).series().train().size()
                        + " steps)", RUN_COLORS[k % RUN_COLORS.length]});
            }
            if (anyEval) {
                entries.add(new String[] {"eval", "eval loss (each run's colour)", "#333333"});
            }
        }
        if (bad > 0) {
            entries.add(new String[] {"bad", bad + " step" + (bad == 1 ? "" : "s") + " with NaN/inf loss", BAD_COLOR});
        }
        int longest = entries.stream().mapToInt(e -> e[1].length()).max().orElse(0);
        double lw = Math.max(210, 48 + 7 * longest), lh = 10 + 18 * entries.size();
        // the corner whose box covers the fewest drawn points (segments sampled), top right on a tie
        var drawn = new ArrayList<double[]>();
        for (List<Point> list : lists) {
            for (int i = 0; i < list.size(); i++) {
                Point b = list.get(i);
                Point a = i > 0 && Double.isFinite(list.get(i - 1).loss()) ? list.get(i - 1) : b;
                if (!Double.isFinite(b.loss())) {
                    continue;
                }
                for (int k = 0; k <= 8; k++) {
                    double st = a.step() + (b.step() - a.step()) * k / 8.0;
                    double lo = a.loss() + (b.loss() - a.loss()) * k / 8.0;
                    drawn.add(new double[] {px(x, st, pw), py(y, lo, ph)});
                }
            }
        }
        double lx = LEFT + pw - lw - 8, ly = TOP + 8;
        int best = Integer.MAX_VALUE;
        for (double[] c : new double[][] {{LEFT + pw - lw - 8, TOP + 8}, {LEFT + pw - lw - 8, TOP + ph - lh - 8},
                {LEFT + 8, TOP + ph - lh - 8}, {LEFT + 8, TOP + 8}}) {
            int n = 0;
            for (double[] q : drawn) {
                n += q[0] >= c[0] - 4 && q[0] <= c[0] + lw + 4 && q[1] >= c[1] - 4 && q[1] <= c[1] + lh + 4 ? 1 : 0;
            }
            if (n < best) {
                best = n;
                lx = c[0];
                ly = c[1];
            }
        }
        sb.append(fmt("<g class=\"legend\">\n<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"white\" "
                + "fill-opacity=\"0.85\" stroke=\"#999999\"/>\n", lx, ly, lw, lh));
        for (int i = 0; i < entries.size(); i++) {
            double cy = ly + 14 + 18 * i;
            String color = entries.get(i)[2];
            switch (entries.get(i)[0]) {
                case "train" -> sb.append(fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                        + "stroke-width=\"2\"/>\n", lx + 8, cy, lx + 32, cy, color));
                case "eval" -> sb.append(fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                        + "stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n<circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\" "
                        + "fill=\"%s\"/>\n", lx + 8, cy, lx + 32, cy, color, lx + 20, cy, color));
                default -> sb.append(fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                        + "stroke-width=\"2\"/>\n", lx + 20, cy - 6, lx + 20, cy + 6, color));
            }
            sb.append(fmt("<text x=\"%.2f\" y=\"%.2f\">%s</text>\n", lx + 40, cy + 4, escape(entries.get(i)[1])));
        }
        sb.append("</g>\n</svg>\n");
        return sb.toString();
    }

    private static void trainRun(StringBuilder sb, List<Point> run, Axis x, Axis y, double pw, double ph, String color) {
        if (run.isEmpty()) {
            return;
        }
        var pts = new StringBuilder();
        for (Point p : run) {
            pts.append(fmt("%.2f,%.2f ", px(x, p.step(), pw), py(y, p.loss(), ph)));
        }
        sb.append(fmt("<polyline class=\"train\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                + "stroke-linejoin=\"round\" points=\"%s\"/>\n", color, pts.toString().strip()));
        if (run.size() == 1) {   // a one-point polyline draws nothing
            sb.append(fmt("<circle class=\"train-dot\" cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n",
                    px(x, run.getFirst().step(), pw), py(y, run.getFirst().loss(), ph), color));
        }
    }

    private static double px(Axis a, double v, double pw) {
        return LEFT + a.fraction(v) * pw;
    }

    private static double py(Axis a, double v, double ph) {
        return TOP + (1 - a.fraction(v)) * ph;
    }

    private static String fmt(String f, Object... args) {
        return String.format(Locale.ROOT, f, args);
    }

    static String escape(String s) {
        var sb = new StringBuilder(s.length());
        s.codePoints().forEach(c -> {
            switch (c) {
                case '&' -> sb.append("&amp;");
                case '<' -> sb.append("&lt;");
                case '>' -> sb.append("&gt;");
                case '"' -> sb.append("&quot;");
                default -> {
                    // XML 1.0 forbids most control characters even as references: drop them
                    if (c >= 0x20 || c == '\t' || c == '\n') {
                        sb.appendCodePoint(c);
                    }
                }
            }
        });
        return sb.toString();
    }

    /**
     * A linear axis from {@code lo} to {@code hi} with ticks every {@code step}, where step is 1, 2 or 5 times a
     * power of ten and lo/hi are multiples of it (Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990).
     * Arithmetic halves the operands first where a difference could overflow (losses up to Double.MAX_VALUE).
     */
    record Axis(double lo, double hi, double step, boolean integer) {
        static Axis of(double min, double max, int target, boolean integer) {
            if (!(min < max)) {   // one value: widen by 5% of its size (or 1 for 0) each side
                double pad = min == 0 ? 1 : Math.abs(min) * 0.05;
                min -= pad;
                max += pad;
            }
            double span = max / 2 - min / 2;   // half the span, finite for any finite min, max
            double step = nice(span * 2 / (target - 1), true);
            if (!Double.isFinite(step)) {
                step = nice(span / (target - 1), true) * 2;
            }
            if (integer) {
                step = Math.max(1, Math.rint(step));
            }
            double lo = Math.floor(min / step) * step;
            double hi = Math.ceil(max / step) * step;
            if (!Double.isFinite(hi)) {
                hi = max;
            }
            if (!Double.isFinite(lo)) {
                lo = min;
            }
            return new Axis(lo, hi, step, integer);
        }

        /** A nice number near {@code v}: rounded to 1, 2, 5 or 10 times a power of ten, or at least {@code v}. */
        static double nice(double v, boolean round) {
            double exp = Math.floor(Math.log10(v));
            double pow = Math.pow(10, exp);
            double f = v / pow;
            double nf = round ? (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) : (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10);
            return nf * pow;
        }

        /** Position of {@code v} as a fraction of the axis, 0 at lo and 1 at hi. */
        double fraction(double v) {
            return (v / 2 - lo / 2) / (hi / 2 - lo / 2);
        }

        List<Double> ticks() {
            var t = new ArrayList<Double>();
            long first = (long) Math.ceil(lo / step - 1e-9), last = (long) Math.floor(hi / step + 1e-9);
            for (long k = first; k <= last && t.size() < 50; k++) {
                t.add(k * step);
            }
            return t;
        }

        /** A tick label with just enough digits for the tick spacing; exponent notation for huge or tiny values. */
        String label(double v) {
            if (Math.abs(v) < step * 1e-6) {
                return "0";
            }
            if (integer && Math.abs(v) < 1e15) {
                return Long.toString(Math.round(v));
            }
            double mag = Math.max(Math.abs(lo), Math.abs(hi));
            if (mag >= 1e6 || step < 1e-4) {
                int digits = Math.max(0, (int) Math.floor(Math.log10(Math.abs(v))) - (int) Math.floor(Math.log10(step)));
                return String.format(Locale.ROOT, "%." + Math.min(digits, 15) + "e", v);
            }
            int decimals = Math.max(0, -(int) Math.floor(Math.log10(step) + 1e-9));
            return String.format(Locale.ROOT, "%." + decimals + "f", v);
        }
    }
}
