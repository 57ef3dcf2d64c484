package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.io.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** jlora compare on the demo model: two methods × two steps, each in a child JVM; the table, the json and the svg. */
class CompareCommandTest {
    @TempDir
    Path dir;

    @Test
    void comparesTwoMethodsAndWritesTableJsonAndCurves() throws Exception {
        Path data = dir.resolve("d.jsonl");
        var lines = new StringBuilder();
        for (int i = 0; i < 10; i++) {
            lines.append("{\"text\": \"Once upon a time, a cat named Tom number ").append(i)
                    .append(" saw a bird. The bird sang a song.\"}\n");
        }
        Files.writeString(data, lines);
        Path out = dir.resolve("cmp");
        var r = TrainCommandTest.run("compare", "demo", "--data", data.toString(), "--methods", "lora,mos",
                "--steps", "2", "--out", out.toString(), "--method-arg", "mos.equivalent_rank=2",
                "--", "--rank", "4", "--seq-len", "16", "--batch-size", "1", "--targets", "q,v", "--eval-fraction", "0.2");
        assertEquals(0, r.code(), r.out() + r.err());

        String md = Files.readString(out.resolve("compare.md"));
        assertTrue(md.contains("jlora compare demo --data"), "the exact command: " + md);
        var rows = md.lines().filter(l -> l.startsWith("| lora ") || l.startsWith("| mos ")).toList();
        assertEquals(2, rows.size(), md);
        var json = Json.readObject(out.resolve("compare.json"));
        @SuppressWarnings("unchecked")
        var runs = (List<Map<String, Object>>) json.get("runs");
        assertEquals(List.of("lora", "mos"), runs.stream().map(m -> m.get("label")).toList());
        for (int i = 0; i < 2; i++) {
            var run = runs.get(i);
            String[] cells = rows.get(i).split("\\|");
            // | label | init | params | heap | heap after GC | step | tok/s | final | eval | ppl |  → cells[1..10]
            assertEquals(String.format(java.util.Locale.ROOT, "%,d", ((Number) run.get("trainable_parameters")).longValue()),
                    cells[3].strip(), "table and json agree");
            assertEquals(2L, ((Number) run.get("steps")).longValue());
            long peak = ((Number) run.get("peak_heap_bytes")).longValue();
            assertTrue(peak > 1 << 20, "a JVM's heap peak is over 1 MiB");
            if (run.get("peak_heap_after_gc_bytes") instanceof Number afterGc) {
                assertTrue(afterGc.longValue() > 0 && afterGc.longValue() <= peak, "live after GC ≤ the high-water mark");
            }
            assertTrue(((Number) run.get("mean_step_seconds")).doubleValue() > 0);
            double eval = ((Number) run.get("eval_loss")).doubleValue();
            assertEquals(Math.exp(eval), ((Number) run.get("eval_perplexity")).doubleValue(), 1e-9 * Math.exp(eval));
            assertTrue(Files.exists(out.resolve(run.get("label").toString()).resolve("adapter.jlora")));
        }
        // LoRA r=4 on q (64×64) and v (32×64) of 5 layers: 5·4·(64+64 + 64+32) = 4,480.
        assertEquals(4480L, ((Number) runs.get(0).get("trainable_parameters")).longValue());
        // MoS pools at equivalent_rank 2: the budget of LoRA rank 2 in whole shards: 5·2·2 shards of 32 per factor
        // on q and of 32 (A) and 16 (B) on v: 20·(32 + 32) + 20·(32 + 16) = 2,240.
        assertEquals(2240L, ((Number) runs.get(1).get("trainable_parameters")).longValue());

        var svg = DocumentBuilderFactory.newDefaultNSInstance().newDocumentBuilder()
                .parse(out.resolve("compare.svg").toFile());
        var polylines = svg.getElementsByTagName("polyline");
        var strokes = new java.util.HashSet<String>();
        int train = 0;
        for (int i = 0; i < polylines.getLength(); i++) {
            var e = (org.w3c.dom.Element) polylines.item(i);
            if (e.getAttribute("class").equals("train")) {
                train++;
                strokes.add(e.getAttribute("stroke"));
                assertEquals(2, e.getAttribute("points").split(" ").length, "two steps per curve");
            }
        }
        assertEquals(2, train, "one training curve per method");
        assertEquals(2, strokes.size(), "in two colours");
        var texts = svg.getElementsByTagName("text");
        var labels = new java.util.HashSet<String>();
        for (int i = 0; i < texts.getLength(); i++) {
            labels.add(texts.item(i).getTextContent());
        }
        assertTrue(labels.contains("lora") && labels.contains("mos"), "legend names the methods: " + labels);
    }

    @Test
    void badSpecsAndArgumentsAreNamedBeforeAnythingRuns() throws Exception {
        Path out = dir.resolve("bad");
        var r = TrainCommandTest.run("compare", "demo", "--data", "x.jsonl", "--methods", "lora,nosuch", "--out", out.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("'nosuch' is neither an adapter method"), r.err());
        r = TrainCommandTest.run("compare", "demo", "--data", "x.jsonl", "--methods", "lora", "--out", out.toString(),
                "--method-arg", "vera.d_initial=0.2");
        assertTrue(r.err().contains("no entry of --methods is 'vera'"), r.err());
        r = TrainCommandTest.run("compare", "demo", "--data", "x.jsonl", "--methods", "lora", "--out", out.toString(),
                "--", "--steps", "3");
        assertTrue(r.err().contains("--steps after -- is set by compare itself"), r.err());
        r = TrainCommandTest.run("compare", "demo", "--data", "x.jsonl", "--methods", "lora", "--out", out.toString(),
                "--", "--rnak", "3");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("training options after --: Unknown option") && r.err().contains("'--rnak'"), r.err());
        assertTrue(!Files.exists(out), "nothing ran");
        var args = new java.util.LinkedHashMap<String, String>();
        args.put("dora.rank", "2");
        args.put("lora+loraplus.loraplus_lr_ratio", "8");
        args.put("lora+loraplus.rank", "4");
        var specs = CompareCommand.specs(List.of("lora:pissa", "olora", "dora", "eva", "lora+loraplus"), args);
        assertEquals(List.of("lora/pissa", "lora/olora", "dora/kaiming", "lora/eva", "lora/kaiming"),
                specs.stream().map(s -> s.method() + "/" + s.init()).toList());
        assertEquals(Map.of("rank", "2"), specs.get(2).args());
        assertEquals("lora-pissa", specs.get(0).folder());
        assertEquals(List.of("loraplus"), specs.get(4).dynamics());
        assertEquals(Map.of("loraplus_lr_ratio", "8"), specs.get(4).dynamicsArgs(), "a key of the dynamics");
        assertEquals(Map.of("rank", "4"), specs.get(4).args(), "a key of the method");
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> CompareCommand.parseSpec("lora+nosuch"));
        assertTrue(e.getMessage().contains("unknown training dynamics 'nosuch'"), e.getMessage());
    }
}
