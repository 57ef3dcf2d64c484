package dev.jlora.engine.plot;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A self-contained SVG 1.1 line chart being written: white page, bold title, light grid at "nice" ticks, axes with
 * tick labels and axis titles, then whatever series the caller draws in data coordinates, then a legend placed in
 * the plot corner that covers the fewest drawn points. Plain text, no scripts, fonts or external references, so
 * browsers and converters (rsvg, ImageMagick) show the same picture. Shared by the training loss plot and the
 * adapter spectrum plot.
 */
public final class SvgChart {
    public static final int WIDTH = 800;
    public static final int HEIGHT = 480;
    public static final double LEFT = 84, RIGHT = 24, TOP = 48, BOTTOM = 56;
    /** Plot area width and height. */
    public static final double PW = WIDTH - LEFT - RIGHT, PH = HEIGHT - TOP - BOTTOM;

    /** Draws a legend entry's sample line or marker, given the left edge of its 24-pixel slot and its centre line. */
    @FunctionalInterface
    public interface Swatch {
        String draw(double x, double cy);
    }

    /** One legend line: a swatch and its text. */
    public record LegendEntry(Swatch swatch, String label) {}

    private final StringBuilder sb = new StringBuilder(8192);
    private final Axis x, y;

    /** Starts a chart: header, title, grid, axes, tick labels and the two axis titles. */
    public SvgChart(String title, Axis x, Axis y, String xTitle, String yTitle) {
        this.x = x;
        this.y = y;
        sb.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        sb.append(fmt("<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
                + "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n", WIDTH, HEIGHT, WIDTH, HEIGHT));
        sb.append("<title>").append(escape(title)).append("</title>\n");
        sb.append(fmt("<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"white\"/>\n", WIDTH, HEIGHT));
        sb.append(fmt("<text x=\"%.1f\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">%s"
                + "</text>\n", WIDTH / 2.0, escape(title)));
        sb.append("<g class=\"grid\" stroke=\"#e0e0e0\" stroke-width=\"1\">\n");
        for (double t : y.ticks()) {
            sb.append(fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", LEFT, py(t), LEFT + PW, py(t)));
        }
        for (double t : x.ticks()) {
            sb.append(fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", px(t), TOP, px(t), TOP + PH));
        }
        sb.append("</g>\n<g class=\"axes\" stroke=\"#333333\" stroke-width=\"1\">\n");
        sb.append(fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", LEFT, TOP + PH, LEFT + PW, TOP + PH));
        sb.append(fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", LEFT, TOP, LEFT, TOP + PH));
        sb.append("</g>\n<g class=\"y-ticks\" text-anchor=\"end\">\n");
        for (double t : y.ticks()) {
            sb.append(fmt("<text x=\"%.2f\" y=\"%.2f\">%s</text>\n", LEFT - 6, py(t) + 4, y.label(t)));
        }
        sb.append("</g>\n<g class=\"x-ticks\" text-anchor=\"middle\">\n");
        for (double t : x.ticks()) {
            sb.append(fmt("<text x=\"%.2f\" y=\"%.2f\">%s</text>\n", px(t), TOP + PH + 18, x.label(t)));
        }
        sb.append("</g>\n");
        sb.append(fmt("<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s</text>\n", LEFT + PW / 2, HEIGHT - 12.0,
                escape(xTitle)));
        sb.append(fmt("<text x=\"16\" y=\"%.2f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.2f)\">%s</text>\n",
                TOP + PH / 2, TOP + PH / 2, escape(yTitle)));
    }

    /** Page x of data value {@code v}. */
    public double px(double v) {
        return LEFT + x.fraction(v) * PW;
    }

    /** Page y of data value {@code v}. */
    public double py(double v) {
        return TOP + (1 - y.fraction(v)) * PH;
    }

    /** Appends SVG text as is (the caller formats it with {@link #fmt} and {@link #escape}). */
    public SvgChart raw(String svg) {
        sb.append(svg);
        return this;
    }

    /** A polyline through data points {xᵢ, yᵢ}; {@code extra} holds further attributes (may be empty). */
    public SvgChart polyline(String cssClass, List<double[]> points, String color, double width, String extra) {
        var pts = new StringBuilder();
        for (double[] p : points) {
            pts.append(fmt("%.2f,%.2f ", px(p[0]), py(p[1])));
        }
        sb.append(fmt("<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" %spoints=\"%s\"/>\n",
                cssClass, color, num(width), extra.isEmpty() ? "" : extra + " ", pts.toString().strip()));
        return this;
    }

    /** A grey note in the middle of the plot area (e.g. "no data"). */
    public SvgChart note(String text) {
        sb.append(fmt("<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" fill=\"#666666\">%s</text>\n",
                LEFT + PW / 2, TOP + PH / 2, escape(text)));
        return this;
    }

    /**
     * The legend, {@code width} pixels wide, in the corner of the plot area whose box covers the fewest of the
     * {@code drawn} page points (top right on a tie).
     */
    public SvgChart legend(List<LegendEntry> entries, List<double[]> drawn, double width) {
        return legend(entries, drawn, width, 1);
    }

    /**
     * The legend in {@code columns} columns of {@code columnWidth} pixels (entries fill a column before the next),
     * in the plot corner that covers the fewest {@code drawn} points, as {@link #legend(List, List, double)}.
     */
    public SvgChart legend(List<LegendEntry> entries, List<double[]> drawn, double columnWidth, int columns) {
        int rows = (entries.size() + columns - 1) / columns;
        double width = columnWidth * columns;
        double lh = 10 + 18 * rows;
        double lx = LEFT + PW - width - 8, ly = TOP + 8;
        int best = Integer.MAX_VALUE;
        for (double[] c : new double[][] {{LEFT + PW - width - 8, TOP + 8}, {LEFT + PW - width - 8, TOP + PH - lh - 8},
                {LEFT + 8, TOP + PH - lh - 8}, {LEFT + 8, TOP + 8}}) {
            int n = 0;
            for (double[] q : drawn) {
                n += q[0] >= c[0] - 4 && q[0] <= c[0] + width + 4 && q[1] >= c[1] - 4 && q[1] <= c[1] + lh + 4 ? 1 : 0;
            }
            if (n < best) {
                best = n;
                lx = c[0];
                ly = c[1];
            }
        }
        sb.append(fmt("<g class=\"legend\">\n<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"white\" "
                + "fill-opacity=\"0.85\" stroke=\"#999999\"/>\n", lx, ly, width, lh));
        for (int i = 0; i < entries.size(); i++) {
            double cy = ly + 14 + 18 * (i % rows), cx = lx + columnWidth * (i / rows);
            sb.append(entries.get(i).swatch().draw(cx + 8, cy));
            sb.append(fmt("<text x=\"%.2f\" y=\"%.2f\">%s</text>\n", cx + 40, cy + 4, escape(entries.get(i).label())));
        }
        sb.append("</g>\n");
        return this;
    }

    /** Closes the document and returns its text. */
    public String finish() {
        return sb.append("</svg>\n").toString();
    }

    /** Points sampled along the segments of a data polyline, in page coordinates (for {@link #legend}). */
    public List<double[]> sampled(List<double[]> points) {
        var out = new ArrayList<double[]>();
        for (int i = 0; i < points.size(); i++) {
            double[] b = points.get(i), a = i > 0 ? points.get(i - 1) : b;
            for (int k = 0; k <= 8; k++) {
                out.add(new double[] {px(a[0] + (b[0] - a[0]) * k / 8.0), py(a[1] + (b[1] - a[1]) * k / 8.0)});
            }
        }
        return out;
    }

    public static String fmt(String f, Object... args) {
        return String.format(Locale.ROOT, f, args);
    }

    private static String num(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    /** Text escaped for XML 1.0 content and attributes; control characters XML forbids are dropped. */
    public static String escape(String s) {
        var sb = new StringBuilder(s.length());
        s.codePoints().forEach(c -> {
            switch (c) {
                case '&' -> sb.append("&amp;");
                case '<' -> sb.append("&lt;");
                case '>' -> sb.append("&gt;");
                case '"' -> sb.append("&quot;");
                default -> {
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
     * Arithmetic halves the operands first where a difference could overflow (values up to Double.MAX_VALUE).
     */
    public record Axis(double lo, double hi, double step, boolean integer) {
        public static Axis of(double min, double max, int target, boolean integer) {
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
        public double fraction(double v) {
            return (v / 2 - lo / 2) / (hi / 2 - lo / 2);
        }

        public List<Double> ticks() {
            var t = new ArrayList<Double>();
            long first = (long) Math.ceil(lo / step - 1e-9), last = (long) Math.floor(hi / step + 1e-9);
            for (long k = first; k <= last && t.size() < 50; k++) {
                t.add(k * step);
            }
            return t;
        }

        /** A tick label with just enough digits for the tick spacing; exponent notation for huge or tiny values. */
        public String label(double v) {
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
