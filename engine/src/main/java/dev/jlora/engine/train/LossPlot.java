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

    /** Renders the metrics file of a run (see the class comment for what is read) as SVG text. */
    public static String render(Path metricsJsonl, String title) throws IOException {
        return render(read(metricsJsonl), title);
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
        double yMin = Double.POSITIVE_INFINITY, yMax = Double.NEGATIVE_INFINITY;
        long xMax = 1;
        for (List<Point> list : List.of(s.train(), s.eval())) {
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

        // training loss: one polyline per run of finite losses; a single isolated point gets a dot so it shows
        int bad = 0;
        var run = new ArrayList<double[]>();
        for (Point p : s.train()) {
            if (Double.isFinite(p.loss())) {
                run.add(new double[] {p.step(), p.loss()});
            } else {
                bad++;
                trainRun(chart, run);
                run.clear();
                double px = chart.px(p.step());
                chart.raw(fmt("<line class=\"nonfinite\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                        + "stroke-width=\"2\"/>\n", px, SvgChart.TOP + SvgChart.PH - 8, px, SvgChart.TOP + SvgChart.PH, BAD_COLOR));
            }
        }
        trainRun(chart, run);

        // eval loss
        if (!s.eval().isEmpty()) {
            chart.polyline("eval-line", points(s.eval()), EVAL_COLOR, 1.5, "stroke-dasharray=\"6 4\"");
            for (Point p : s.eval()) {
                chart.raw(fmt("<circle class=\"eval\" cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\" stroke=\"white\" "
                        + "stroke-width=\"1\"/>\n", chart.px(p.step()), chart.py(p.loss()), EVAL_COLOR));
            }
        }
        if (!any) {
            chart.note(s.train().isEmpty() ? "no training steps logged" : "no finite loss");
        }

        var entries = new ArrayList<SvgChart.LegendEntry>();
        entries.add(new SvgChart.LegendEntry((x, cy) -> fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                + "stroke=\"%s\" stroke-width=\"2\"/>\n", x, cy, x + 24, cy, TRAIN_COLOR),
                "training loss (" + s.train().size() + " steps)"));
        if (!s.eval().isEmpty()) {
            entries.add(new SvgChart.LegendEntry((x, cy) -> fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                    + "stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n<circle cx=\"%.2f\" cy=\"%.2f\" "
                    + "r=\"4\" fill=\"%s\"/>\n", x, cy, x + 24, cy, EVAL_COLOR, x + 12, cy, EVAL_COLOR), "eval loss"));
        }
        if (bad > 0) {
            entries.add(new SvgChart.LegendEntry((x, cy) -> fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                    + "stroke=\"%s\" stroke-width=\"2\"/>\n", x + 12, cy - 6, x + 12, cy + 6, BAD_COLOR),
                    bad + " step" + (bad == 1 ? "" : "s") + " with NaN/inf loss"));
        }
        // the legend avoids the drawn curves: sample each run of finite points (a NaN breaks the line)
        var drawn = new ArrayList<double[]>();
        for (List<Point> list : List.of(s.train(), s.eval())) {
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
        return chart.legend(entries, drawn, 210).finish();
    }

    private static List<double[]> points(List<Point> points) {
        var out = new ArrayList<double[]>();
        for (Point p : points) {
            out.add(new double[] {p.step(), p.loss()});
        }
        return out;
    }

    private static void trainRun(SvgChart chart, List<double[]> run) {
        if (run.isEmpty()) {
            return;
        }
        chart.polyline("train", run, TRAIN_COLOR, 2, "stroke-linejoin=\"round\"");
        if (run.size() == 1) {   // a one-point polyline draws nothing
            chart.raw(fmt("<circle class=\"train-dot\" cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n",
                    chart.px(run.getFirst()[0]), chart.py(run.getFirst()[1]), TRAIN_COLOR));
        }
    }
}
