package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.train.AdapterFile;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** jlora train / quickstart on the demo model (stories260K), a few steps each. */
class TrainCommandTest {
    @TempDir
    Path dir;

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        PrintStream savedOut = System.out, savedErr = System.err;
        var out = new ByteArrayOutputStream();
        var err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Main.run(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(savedOut);
            System.setErr(savedErr);
        }
    }

    Path data() throws Exception {
        Path p = dir.resolve("d.jsonl");
        Files.writeString(p, """
                {"text": "Once upon a time, there was a cat named Tom. Tom liked milk."}
                {"prompt": "Q: Who likes milk?\\nA:", "completion": " Tom the cat."}
                {"text": "One day, Tom saw a bird. The bird sang a song."}
                {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
                """);
        return p;
    }

    @Test
    void trainsSavesAndResumes() throws Exception {
        Path out = dir.resolve("out");
        String data = data().toString();
        var r = run("train", "demo", "--data", data, "--out", out.toString(), "--steps", "3", "--seq-len", "32",
                "--batch-size", "2", "--rank", "4", "--targets", "all-linear", "--eval-fraction", "0.25",
                "--export", "peft,gguf");
        assertEquals(0, r.code(), r.err());
        var model0 = ModelLoader.load(ModelFiles.resolve("demo"));
        var jl = AdapterFiles.load(out.resolve("adapter.jlora"), model0);
        for (Path exported : new Path[] {out.resolve("adapter-peft"), out.resolve("adapter.gguf")}) {
            var back = AdapterFiles.load(exported, model0);   // PEFT/GGUF round trip (q/k un-permuted and back)
            for (int i = 0; i < jl.parameters().size(); i++) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(jl.parameters().get(i).value(),
                        back.parameters().get(i).value(), exported + " " + jl.parameters().get(i).name());
            }
        }
        assertTrue(r.out().contains("step     3/3"), r.out());
        assertTrue(r.out().contains("eval "), r.out());
        var model = ModelLoader.load(ModelFiles.resolve("demo"));
        var adapters = AdapterFile.load(out.resolve("adapter.jlora"), model.weights());
        assertEquals(5 * 7 * 2, adapters.parameters().size(), "A and B on 7 modules of 5 layers");
        assertEquals(4, Files.readAllLines(out.resolve("metrics.jsonl")).size(), "3 steps + 1 eval");

        var r2 = run("train", "demo", "--data", data, "--out", out.toString(), "--steps", "5", "--seq-len", "32",
                "--batch-size", "2", "--rank", "4", "--targets", "all-linear", "--eval-fraction", "0.25", "--resume");
        assertEquals(0, r2.code(), r2.err());
        assertTrue(r2.out().contains("resumed from") && r2.out().contains("at step 3"), r2.out());
        assertTrue(r2.out().contains("step     5/5") && !r2.out().contains("step     3/5"), r2.out());
        // the loss plot covers the whole run, resumed part included: one polyline point per step, 2 evals
        Path svg = out.resolve("loss.svg");
        assertTrue(r2.out().contains("loss plot: " + svg), r2.out());
        var doc = javax.xml.parsers.DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(svg.toFile());
        var polylines = doc.getElementsByTagName("polyline");
        int points = 0, evals = 0;
        for (int i = 0; i < polylines.getLength(); i++) {
            var e = (org.w3c.dom.Element) polylines.item(i);
            if (e.getAttribute("class").equals("train")) {
                points += e.getAttribute("points").trim().split("\\s+").length;
            }
        }
        var circles = doc.getElementsByTagName("circle");
        for (int i = 0; i < circles.getLength(); i++) {
            evals += ((org.w3c.dom.Element) circles.item(i)).getAttribute("class").equals("eval") ? 1 : 0;
        }
        assertEquals(5, points);
        assertEquals(2, evals);
    }

    @Test
    void noPlotSkipsTheSvg() throws Exception {
        Path out = dir.resolve("np");
        var r = run("train", "demo", "--data", data().toString(), "--out", out.toString(), "--steps", "1",
                "--seq-len", "32", "--batch-size", "2", "--rank", "2", "--no-plot");
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isRegularFile(out.resolve("metrics.jsonl")));
        assertTrue(!Files.exists(out.resolve("loss.svg")) && !r.out().contains("loss plot"), r.out());
    }

    @Test
    void badDataIsOneLineNamingFileLineAndField() throws Exception {
        Path p = dir.resolve("bad.jsonl");
        Files.writeString(p, "{\"text\": \"fine\"}\n{\"prompt\": \"x\", \"completion\": 3}\n");
        var r = run("train", "demo", "--data", p.toString(), "--out", dir.resolve("o").toString(), "--steps", "1");
        assertEquals(1, r.code());
        assertEquals("jlora train: bad.jsonl:2: field 'completion': expected a string, found number", r.err().strip());
    }

    @Test
    void quickstartShowsGenerationsBeforeAndAfter() {
        Path out = dir.resolve("q");
        var r = run("quickstart", "--out", out.toString(), "--steps", "4", "--max-tokens", "8");
        assertEquals(0, r.code(), r.err());
        int before = r.out().indexOf("== before fine-tuning"), after = r.out().indexOf("== after fine-tuning");
        assertTrue(before >= 0 && after > before, r.out());
        assertTrue(r.out().contains("Once upon a time, there was a little girl"), "demo's golden start: " + r.out());
        assertTrue(Files.isRegularFile(out.resolve("adapter.jlora")));
        assertTrue(Files.isRegularFile(out.resolve("loss.svg")));
        assertTrue(r.out().contains("loss plot (open in a browser): " + out.resolve("loss.svg")), r.out());
    }

    /** --backend openblas runs the frozen fp32 products on OpenBLAS and trains the same adapter as Java. */
    @Test
    @org.junit.jupiter.api.Tag("native")
    void openblasBackendTrainsTheSameAdapterAsJava() throws Exception {
        String data = data().toString();
        var runs = new java.util.ArrayList<dev.jlora.engine.adapter.TrainableAdapterSet>();
        var model = ModelLoader.load(ModelFiles.resolve("demo"));
        for (String backend : new String[] {"java", "openblas"}) {
            Path out = dir.resolve("out-" + backend);
            // SGD: parameter differences stay lr·Δgradient (AdamW would amplify sign flips of near-zero gradients).
            var r = run("train", "demo", "--data", data, "--out", out.toString(), "--steps", "2", "--seq-len", "32",
                    "--batch-size", "2", "--rank", "4", "--optimizer", "sgd", "--eval-fraction", "0.25",
                    "--backend", backend);
            if (r.code() != 0 && backend.equals("openblas") && System.getenv("CI") == null) {
                org.junit.jupiter.api.Assumptions.assumeTrue(false, "OpenBLAS not available here: " + r.err());
            }
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("backend " + backend + ": " + (backend.equals("java") ? "0" : "36")
                    + " weight matrices on it"), r.out());
            runs.add(AdapterFile.load(out.resolve("adapter.jlora"), model.weights()));
        }
        for (int i = 0; i < runs.get(0).parameters().size(); i++) {
            var a = runs.get(0).parameters().get(i);
            var b = runs.get(1).parameters().get(i);
            // Reference: the Java run; only summation order differs in the frozen products.
            dev.jlora.simd.testing.Approx.assertClose(a.value(), b.value(), 1e-5, 1e-4, () -> "parameter " + a.name());
        }
    }
}
