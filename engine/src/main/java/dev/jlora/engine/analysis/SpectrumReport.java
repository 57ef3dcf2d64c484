package dev.jlora.engine.analysis;

import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.plot.SvgChart;
import dev.jlora.engine.plot.SvgChart.Axis;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** {@link AdapterAnalysis} results as a Markdown report and an SVG plot of the normalised spectra. */
public final class SpectrumReport {
    /** File names {@code jlora analyze --out DIR} writes. */
    public static final String MARKDOWN = "analysis.md", SVG = "spectra.svg";

    /** One colour per target (matplotlib's tab10), so a module type reads the same in every plot. */
    private static final String[] COLORS = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"};
    /** Singular values shown per module in the table. */
    private static final int SHOWN = 6;

    private SpectrumReport() {}

    /** A per-module table, then per-target means. */
    public static String markdown(String title, List<AdapterAnalysis.Module> modules, AdapterAnalysis.Options opt) {
        var sb = new StringBuilder();
        sb.append("# ").append(title).append("\n\n");
        sb.append("Per module: singular values σ of ΔW (largest first), effective rank exp(H(σ/Σσ)) (Roy & Vetterli "
                + "2007), the number of σ holding 90% of ‖ΔW‖², ‖ΔW‖_F/‖W‖_F, and intruder dimensions (Shuttleworth "
                + "et al. 2024): of the top k = ").append(opt.intruderTopK()).append(" left singular vectors of W + ΔW, "
                + "those whose |cos| with every singular vector of W is below ε = ")
                .append(fmt("%.2f", opt.intruderEpsilon())).append(".\n\n");
        sb.append("| layer | module | method | rank | σ (top ").append(SHOWN).append(") | effective rank | 90% energy rank "
                + "| ‖ΔW‖/‖W‖ | intruders |\n");
        sb.append("|---:|---|---|---:|---|---:|---:|---:|---:|\n");
        for (var m : modules) {
            var sig = new StringBuilder();
            for (int i = 0; i < Math.min(SHOWN, m.singularValues().length); i++) {
                sig.append(i == 0 ? "" : ", ").append(fmt("%.3g", m.singularValues()[i]));
            }
            if (m.singularValues().length > SHOWN) {
                sig.append(", …");
            }
            sb.append(fmt("| %d | %s | %s | %d | %s | %.2f | %d | %.4g | %s |%n", m.layer(), m.target().hfName(),
                    m.method(), numericRank(m.singularValues()), sig, m.effectiveRank(), m.energyRank90(),
                    m.relativeNorm(), m.intruders() < 0 ? "skipped (min(OC, IC) > " + opt.intruderLimit() + ")"
                            : m.intruders() + " / " + m.intruderK()));
        }
        sb.append("\n## Means per module type\n\n| module | modules | effective rank | 90% energy rank | ‖ΔW‖/‖W‖ | intruders |\n");
        sb.append("|---|---:|---:|---:|---:|---:|\n");
        for (var e : byTarget(modules).entrySet()) {
            List<AdapterAnalysis.Module> ms = e.getValue();
            double er = 0, en = 0, rn = 0, in = 0;
            int examined = 0;
            for (var m : ms) {
                er += m.effectiveRank();
                en += m.energyRank90();
                rn += m.relativeNorm();
                if (m.intruders() >= 0) {
                    in += m.intruders();
                    examined++;
                }
            }
            int n = ms.size();
            sb.append(fmt("| %s | %d | %.2f | %.2f | %.4g | %s |%n", e.getKey().hfName(), n, er / n, en / n, rn / n,
                    examined == 0 ? "skipped" : fmt("%.2f", in / examined)));
        }
        return sb.toString();
    }

    /** σᵢ/σ₁ against i for every module, one colour per target. */
    public static String svg(String title, List<AdapterAnalysis.Module> modules) {
        int maxLen = 1;
        for (var m : modules) {
            maxLen = Math.max(maxLen, m.singularValues().length);
        }
        var chart = new SvgChart(title, Axis.of(1, maxLen, 8, true), Axis.of(0, 1, 6, false),
                "singular value index i", "σᵢ / σ₁ of ΔW");
        var drawn = new ArrayList<double[]>();
        boolean any = false;
        for (var m : modules) {
            double[] s = m.singularValues();
            if (s.length == 0 || s[0] <= 0) {
                continue;
            }
            any = true;
            var pts = new ArrayList<double[]>();
            for (int i = 0; i < s.length; i++) {
                pts.add(new double[] {i + 1, s[i] / s[0]});
            }
            String color = COLORS[m.target().ordinal() % COLORS.length];
            chart.polyline("spectrum", pts, color, 1.2, fmt("stroke-opacity=\"0.7\" data-module=\"layers.%d.%s\"",
                    m.layer(), m.target().hfName()));
            if (pts.size() == 1) {   // a one-point polyline draws nothing
                chart.raw(fmt("<circle class=\"spectrum-dot\" cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n",
                        chart.px(1), chart.py(1), color));
            }
            drawn.addAll(chart.sampled(pts));
        }
        if (!any) {
            chart.note("every ΔW is zero");
        }
        var entries = new ArrayList<SvgChart.LegendEntry>();
        for (var e : byTarget(modules).entrySet()) {
            String color = COLORS[e.getKey().ordinal() % COLORS.length];
            entries.add(new SvgChart.LegendEntry((x, cy) -> fmt("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                    + "stroke=\"%s\" stroke-width=\"2\"/>\n", x, cy, x + 24, cy, color),
                    e.getKey().hfName() + " (" + e.getValue().size() + " modules)"));
        }
        return chart.legend(entries, drawn, 180).finish();
    }

    /** Singular values above 1e-10 of the largest: the rank ΔW has in fact. */
    static int numericRank(double[] s) {
        int r = 0;
        for (double v : s) {
            r += s.length > 0 && v > 1e-10 * s[0] ? 1 : 0;
        }
        return r;
    }

    private static Map<Target, List<AdapterAnalysis.Module>> byTarget(List<AdapterAnalysis.Module> modules) {
        var out = new EnumMap<Target, List<AdapterAnalysis.Module>>(Target.class);
        for (var m : modules) {
            out.computeIfAbsent(m.target(), t -> new ArrayList<>()).add(m);
        }
        return out;
    }

    private static String fmt(String f, Object... args) {
        return String.format(Locale.ROOT, f, args);
    }
}
