package dev.jlora.engine.train;

import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.JsonParseException;
import dev.jlora.engine.plot.SvgChart;
import dev.jlora.engine.plot.SvgChart.Axis;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Draws the {@code metrics.jsonl} written by {@link Trainer} as an {@link SvgChart}: training loss per step (a
 * polyline, broken at steps whose loss is NaN or infinite, which get a red mark on the step axis), eval loss (round
 * markers joined by a dashed line), a legend and a title.
 *
 * <p>Only this class's reader of the metrics exists; it parses each line with {@link Json} and skips lines that are
 * not train/eval entries of the trainer (a torn last line after a kill, foreign lines). Where the step numbers go
 * back (a fresh run appended to the same folder without {@code --resume}), the plot shows the newest run only.
 */
public final class LossPlot {
    /** File name the CLI writes next to {@code metrics.jsonl}. */
    public static final String FILE_NAME = "loss.svg";

    private static final String TRAIN_COLOR = "#1f77b4";
    private static final String EVAL_COLOR = "#d62728";
    private static final String BAD_COLOR = "#ff7f0e";

    private LossPlot() {}

    private static String fmt(String f, Object... args) {
        return SvgChart.fmt(f, args);
    }

    /** One logged loss; {@code loss} may be NaN or infinite for a skipped training step. */
    record Point(long step, double loss) {}

    /** The losses of one run, in logging order. */
    record Series(List<Point> train, List<Point> eval) {}

    /** One run of a comparison: its legend label and its losses. */
    record Run(String label, Series series) {}

    /** Colours of the runs of a comparison, in order (Tableau 10); a single run uses the first, its eval red. */
    private static final String[] RUN_COLORS = {TRAIN_COLOR, "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
            "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    /** Line styles that tell apart runs 1–10, 11–20 and 21–30 of a comparison, which reuse the colours. */
    private static final String[] RUN_DASHES = {"", "stroke-dasharray=\"7 3\"", "stroke-dasharray=\"2 2\""};
    /** Legend rows per column before a comparison's legend starts another column. */
    private static final int LEGEND_ROWS = 10;

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
        var lists = new ArrayList<List<Point>>();
        for (Run r : runs) {
            lists.add(r.series().train());
            lists.add(r.series().eval());
        }
        double yMin = Double.POSITIVE_INFINITY, yMax = Double.NEGATIVE_INFINITY;
        long xMax = 1;
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
        var chart = new SvgChart(title, Axis.of(0, xMax, 8, true), Axis.of(yMin, yMax, 6, false), "step", "loss");

        // per run: training loss, one polyline per stretch of finite losses (a lone point gets a dot); eval loss
        int bad = 0;
        for (int k = 0; k < runs.size(); k++) {
            Series s = runs.get(k).series();
            String trainColor = RUN_COLORS[k % RUN_COLORS.length], evalColor = single ? EVAL_COLOR : trainColor;
            String dash = RUN_DASHES[k / RUN_COLORS.length % RUN_DASHES.length];
            var run = new ArrayList<double[]>();
            for (Point p : s.train()) {
                if (Double.isFinite(p.loss())) {
                    run.add(new double[] {p.step(), p.loss()});
                } else {
                    bad++;
                    trainRun(chart, run, trainColor, dash);
                    run.clear();
                    double px = chart.px(p.step());
                    chart.raw(fmt("<line class=\"nonfinite\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                            + "stroke=\"%s\" stroke-width=\"2\"/>\n", px, SvgChart.TOP + SvgChart.PH - 8, px,
                            SvgChart.TOP + SvgChart.PH, BAD_COLOR));
                }
            }
            trainRun(chart, run, trainColor, dash);
            if (!s.eval().isEmpty()) {
                chart.polyline("eval-line", points(s.eval()), evalColor, 1.5, "stroke-dasharray=\"6 4\"");
                for (Point p : s.eval()) {
                    chart.raw(fmt("<circle class=\"eval\" cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\" stroke=\"white\" "
                            + "stroke-width=\"1\"/>\n", chart.px(p.step()), chart.py(p.loss()), evalColor));
                }
            }
        }
        if (!any) {
            boolean noSteps = runs.stream().allMatch(r -> r.series().train().isEmpty());
            chart.note(noSteps ? "no training steps logged" : "no finite loss");
        }

        var entries = new ArrayList<SvgChart.LegendEntry>();
        boolean anyEval = runs.stream().anyMatch(r -> !r.series().eval().isEmpty());
        if (single) {
            entries.add(trainEntry(TRAIN_COLOR, "", "training loss (" + runs.getFirst().series().train().size() + " steps)"));
            if (anyEval) {
                entries.add(evalEntry(EVAL_COLOR, "eval loss"));
            }
        } else {
            // step counts in the labels only where they differ (a comparison normally has one budget)
            boolean sameSteps = runs.stream().map(r -> r.series().train().size()).distinct().count() == 1;
            for (int k = 0; k < runs.size(); k++) {
                entries.add(trainEntry(RUN_COLORS[k % RUN_COLORS.length],
                        RUN_DASHES[k / RUN_COLORS.length % RUN_DASHES.length], runs.get(k).label()
                                + (sameSteps ? "" : " (" + runs.get(k).series().train().size() + " steps)")));
            }
            if (anyEval) {
                entries.add(evalEntry("#333333", "eval loss"));
            }
        }
        if (bad > 0) {
            entries.add(new SvgChart.LegendEntry((x, cy) -> fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                    + "stroke=\"%s\" stroke-width=\"2\"/>\n", x + 12, cy - 6, x + 12, cy + 6, BAD_COLOR),
                    bad + " step" + (bad == 1 ? "" : "s") + " with NaN/inf loss"));
        }
        // the legend avoids the drawn curves: sample each run of finite points (a NaN breaks the line)
        var drawn = new ArrayList<double[]>();
        for (List<Point> list : lists) {
            var segment = new ArrayList<double[]>();
            for (Point p : list) {
                if (Double.isFinite(p.loss())) {
                    segment.add(new double[] {p.step(), p.loss()});
                } else {
                    drawn.addAll(chart.sampled(segment));
                    segment.clear();
                }
            }
            drawn.addAll(chart.sampled(segment));
        }
        if (single) {
            return chart.legend(entries, drawn, 210).finish();
        }
        // columns of LEGEND_ROWS entries, as wide as the longest label (≈ 7 px a character) but within the plot
        int longest = entries.stream().mapToInt(e -> e.label().length()).max().orElse(0);
        int columns = (entries.size() + LEGEND_ROWS - 1) / LEGEND_ROWS;
        double columnWidth = Math.min(Math.max(120, 48 + 7 * longest), (SvgChart.PW - 16) / columns);
        return chart.legend(entries, drawn, columnWidth, columns).finish();
    }

    private static SvgChart.LegendEntry trainEntry(String color, String dash, String label) {
        return new SvgChart.LegendEntry((x, cy) -> fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                + "stroke=\"%s\" stroke-width=\"2\"%s/>\n", x, cy, x + 24, cy, color, dash.isEmpty() ? "" : " " + dash),
                label);
    }

    private static SvgChart.LegendEntry evalEntry(String color, String label) {
        return new SvgChart.LegendEntry((x, cy) -> fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                + "stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n<circle cx=\"%.2f\" cy=\"%.2f\" "
                + "r=\"4\" fill=\"%s\"/>\n", x, cy, x + 24, cy, color, x + 12, cy, color), label);
    }

    private static List<double[]> points(List<Point> points) {
        var out = new ArrayList<double[]>();
        for (Point p : points) {
            out.add(new double[] {p.step(), p.loss()});
        }
        return out;
    }

    private static void trainRun(SvgChart chart, List<double[]> run, String color, String dash) {
        if (run.isEmpty()) {
            return;
        }
        chart.polyline("train", run, color, 2, "stroke-linejoin=\"round\"" + (dash.isEmpty() ? "" : " " + dash));
        if (run.size() == 1) {   // a one-point polyline draws nothing
            chart.raw(fmt("<circle class=\"train-dot\" cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n",
                    chart.px(run.getFirst()[0]), chart.py(run.getFirst()[1]), color));
        }
    }
}
