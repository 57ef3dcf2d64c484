package dev.jlora.engine.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.plot.SvgChart;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/** LossPlot: the SVG parses as XML and its coordinates follow the logged losses. */
class LossPlotTest {
    @TempDir
    Path dir;

    static Document parse(String svg) throws Exception {
        var f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(true);
        return f.newDocumentBuilder().parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
    }

    static List<Element> byClass(Document d, String tag, String cls) {
        NodeList nl = d.getElementsByTagName(tag);
        var out = new ArrayList<Element>();
        for (int i = 0; i < nl.getLength(); i++) {
            var e = (Element) nl.item(i);
            if (cls.equals(e.getAttribute("class"))) {
                out.add(e);
            }
        }
        return out;
    }

    /** All x,y pairs of the train polylines, in order. */
    static List<double[]> trainPoints(Document d) {
        var pts = new ArrayList<double[]>();
        for (Element pl : byClass(d, "polyline", "train")) {
            for (String xy : pl.getAttribute("points").trim().split("\\s+")) {
                String[] c = xy.split(",");
                pts.add(new double[] {Double.parseDouble(c[0]), Double.parseDouble(c[1])});
            }
        }
        return pts;
    }

    Path metrics(String text) throws Exception {
        Path p = dir.resolve("metrics.jsonl");
        Files.writeString(p, text);
        return p;
    }

    static String train(int step, String loss) {
        return "{\"kind\":\"train\",\"step\":" + step + ",\"grad_norm\":1.0,\"loss\":" + loss
                + ",\"lr\":0.001,\"skipped\":false,\"tokens_per_s\":100.0}\n";
    }

    static String eval(int step, double loss) {
        return "{\"kind\":\"eval\",\"step\":" + step + ",\"loss\":" + loss + ",\"perplexity\":" + Math.exp(loss) + "}\n";
    }

    @Test
    void onePointPerStepMappedMonotonicallyWithEvalMarkers() throws Exception {
        double[] losses = {5.0, 4.2, 4.6, 3.1, 2.5, 2.9, 1.7, 1.2};
        var sb = new StringBuilder();
        for (int i = 0; i < losses.length; i++) {
            sb.append(train(i + 1, Double.toString(losses[i])));
            if ((i + 1) % 4 == 0) {
                sb.append(eval(i + 1, losses[i] + 0.3));
            }
        }
        String svg = LossPlot.render(metrics(sb.toString()), "run <1> & \"x\"");
        Document d = parse(svg);
        assertEquals("svg", d.getDocumentElement().getLocalName());
        assertEquals("run <1> & \"x\"", d.getElementsByTagName("title").item(0).getTextContent());
        var pts = trainPoints(d);
        assertEquals(losses.length, pts.size());
        for (int i = 0; i < losses.length; i++) {
            assertTrue(pts.get(i)[0] >= SvgChart.LEFT && pts.get(i)[0] <= SvgChart.WIDTH - SvgChart.RIGHT);
            assertTrue(pts.get(i)[1] >= SvgChart.TOP && pts.get(i)[1] <= SvgChart.HEIGHT - SvgChart.BOTTOM);
            for (int j = 0; j < i; j++) {
                assertTrue(pts.get(j)[0] < pts.get(i)[0], "x grows with the step");
                // SVG y grows downwards: a higher loss is drawn higher up (smaller y)
                assertEquals(Double.compare(losses[i], losses[j]), Double.compare(pts.get(j)[1], pts.get(i)[1]),
                        "steps " + (j + 1) + " and " + (i + 1));
            }
        }
        var marks = byClass(d, "circle", "eval");
        assertEquals(2, marks.size());
        assertEquals(pts.get(3)[0], Double.parseDouble(marks.get(0).getAttribute("cx")), 1e-9, "eval at step 4");
        assertTrue(Double.parseDouble(marks.get(0).getAttribute("cy")) < pts.get(3)[1], "eval loss above train loss");
        assertTrue(svg.contains("eval loss") && svg.contains("training loss (8 steps)"), "legend");
        assertTrue(byClass(d, "text", "").stream().anyMatch(e -> e.getTextContent().equals("step")), "axis label");
    }

    @Test
    void singleStepIsADot() throws Exception {
        Document d = parse(LossPlot.render(metrics(train(1, "3.25")), "one"));
        assertEquals(1, trainPoints(d).size());
        assertEquals(1, byClass(d, "circle", "train-dot").size());
        assertTrue(byClass(d, "text", "").stream().anyMatch(e -> e.getTextContent().equals("3.25")
                || e.getTextContent().startsWith("3.2")), "a y tick near the only loss");
    }

    @Test
    void nanStepsBreakTheLineAndAreMarked() throws Exception {
        String text = train(1, "4.0") + train(2, "3.5") + train(3, "\"NaN\"") + train(4, "3.0") + train(5, "\"Infinity\"")
                + train(6, "2.0") + train(7, "1.5") + "{\"kind\":\"train\",\"step\":8,\"lo";   // torn last line
        Document d = parse(LossPlot.render(metrics(text), "nan"));
        assertEquals(5, trainPoints(d).size(), "finite steps only");
        assertEquals(3, byClass(d, "polyline", "train").size(), "broken at the two non-finite steps");
        assertEquals(2, byClass(d, "line", "nonfinite").size());
    }

    @Test
    void aFreshRunInTheSameFolderReplacesTheOldOne() throws Exception {
        String text = train(1, "9") + train(2, "8") + train(3, "7") + eval(3, 7.5) + train(1, "5") + train(2, "4");
        Document d = parse(LossPlot.render(metrics(text), "rerun"));
        assertEquals(2, trainPoints(d).size());
        assertEquals(0, byClass(d, "circle", "eval").size());
    }

    @Test
    void emptyAndAllNanStillGiveAValidChart() throws Exception {
        Document empty = parse(LossPlot.render(metrics(""), "empty"));
        assertTrue(empty.getDocumentElement().getTextContent().contains("no training steps logged"));
        Document nan = parse(LossPlot.render(metrics(train(1, "\"NaN\"")), "nan"));
        assertEquals(0, trainPoints(nan).size());
        assertTrue(nan.getDocumentElement().getTextContent().contains("no finite loss"));
    }

    @Test
    void hugeAndTinyValuesGetNiceTicksAndFiniteCoordinates() throws Exception {
        for (String[] pair : new String[][] {{"1.0E300", "1.7976931348623157E308"}, {"3.0E-9", "7.0E-9"},
                {"1234567.0", "1234568.5"}, {"0.0", "0.0"}}) {
            Document d = parse(LossPlot.render(metrics(train(1, pair[0]) + train(2, pair[1])), "range"));
            for (double[] p : trainPoints(d)) {
                assertTrue(Double.isFinite(p[1]) && p[1] >= SvgChart.TOP - 1e-6
                        && p[1] <= SvgChart.HEIGHT - SvgChart.BOTTOM + 1e-6, pair[0] + " " + p[1]);
            }
            var labels = new ArrayList<String>();
            for (Element t : byClass(d, "text", "")) {
                if ("end".equals(((Element) t.getParentNode()).getAttribute("text-anchor"))) {
                    labels.add(t.getTextContent());
                }
            }
            assertTrue(labels.size() >= 2 && labels.size() <= 12, pair[0] + ": " + labels);
            assertEquals(labels.size(), labels.stream().distinct().count(), "distinct tick labels " + labels);
        }
    }

    @Test
    void niceTickSpacing() {
        var a = SvgChart.Axis.of(1.23, 4.87, 6, false);
        assertEquals(1.0, a.step(), 0);
        assertEquals(1.0, a.lo(), 0);
        assertEquals(5.0, a.hi(), 0);
        assertEquals(List.of("1", "2", "3", "4", "5"), a.ticks().stream().map(a::label).toList());
        var b = SvgChart.Axis.of(0, 1000, 8, true);
        assertEquals(100.0, b.step(), 0);
        var c = SvgChart.Axis.of(0, 3, 8, true);
        assertEquals(1.0, c.step(), 0, "integer steps never closer than 1");
        var d = SvgChart.Axis.of(2.01, 2.09, 6, false);
        assertEquals(List.of("2.00", "2.02", "2.04", "2.06", "2.08", "2.10"), d.ticks().stream().map(d::label).toList());
    }

    @Test
    void severalRunsShareTheAxesWithOneColourAndLegendEntryEach() throws Exception {
        Path a = dir.resolve("a.jsonl"), b = dir.resolve("b.jsonl");
        Files.writeString(a, train(1, "4.0") + train(2, "3.0") + train(3, "2.0") + eval(3, 2.5));
        Files.writeString(b, train(1, "5.0") + train(2, "6.0"));
        var runs = new java.util.LinkedHashMap<String, Path>();
        runs.put("lora", a);
        runs.put("mos:x", b);
        Document d = parse(LossPlot.renderRuns(runs, "compare"));
        var lines = byClass(d, "polyline", "train");
        assertEquals(2, lines.size(), "one training curve per run");
        assertTrue(!lines.get(0).getAttribute("stroke").equals(lines.get(1).getAttribute("stroke")), "distinct colours");
        var evalDots = byClass(d, "circle", "eval");
        assertEquals(1, evalDots.size());
        assertEquals(lines.get(0).getAttribute("stroke"), evalDots.get(0).getAttribute("fill"), "eval in its run's colour");
        // Shared axes: run b's loss 6.0 (the highest) is the topmost point, run a's 2.0 the lowest.
        var pts = trainPoints(d);
        double top = pts.stream().mapToDouble(p -> p[1]).min().orElseThrow();
        double bottom = pts.stream().mapToDouble(p -> p[1]).max().orElseThrow();
        assertEquals(pts.get(4)[1], top, 1e-9, "b step 2 (6.0) is highest");
        assertEquals(pts.get(2)[1], bottom, 1e-9, "a step 3 (2.0) is lowest");
        String text = d.getDocumentElement().getTextContent();
        assertTrue(text.contains("lora (3 steps)") && text.contains("mos:x (2 steps)"), "step counts differ: " + text);
    }

    @Test
    void manyRunsGetDashesBeyondTenColoursAndAMultiColumnLegend() throws Exception {
        var runs = new java.util.LinkedHashMap<String, Path>();
        for (int k = 0; k < 23; k++) {
            Path p = dir.resolve("m" + k + ".jsonl");
            Files.writeString(p, train(1, Double.toString(3 + k * 0.01)) + train(2, Double.toString(2 + k * 0.01)));
            runs.put("method" + k, p);
        }
        Document d = parse(LossPlot.renderRuns(runs, "many"));
        var lines = byClass(d, "polyline", "train");
        assertEquals(23, lines.size());
        var styles = new java.util.HashSet<String>();
        for (Element l : lines) {
            styles.add(l.getAttribute("stroke") + "/" + l.getAttribute("stroke-dasharray"));
        }
        assertEquals(23, styles.size(), "colour and dash tell every run apart");
        // 23 labels (same step count: no "(2 steps)") in 3 columns of at most 10 rows, all inside the page
        var texts = new ArrayList<Element>();
        NodeList nl = d.getElementsByTagName("text");
        for (int i = 0; i < nl.getLength(); i++) {
            var e = (Element) nl.item(i);
            if (e.getTextContent().startsWith("method")) {
                texts.add(e);
                assertTrue(Double.parseDouble(e.getAttribute("y")) < SvgChart.HEIGHT - SvgChart.BOTTOM, "inside the plot");
            }
        }
        assertEquals(23, texts.size());
        Element box = byClass(d, "g", "legend").getFirst();
        var rect = (Element) box.getElementsByTagName("rect").item(0);
        double x = Double.parseDouble(rect.getAttribute("x")), w = Double.parseDouble(rect.getAttribute("width"));
        assertTrue(x >= SvgChart.LEFT && x + w <= SvgChart.LEFT + SvgChart.PW, "legend inside the plot: " + x + "+" + w);
        assertEquals(3, texts.stream().map(e -> e.getAttribute("x")).distinct().count(), "three legend columns");
    }
}
