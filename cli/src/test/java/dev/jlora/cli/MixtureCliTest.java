package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Mixtures of LoRA experts from the command line on the demo model: {@code jlora train --method NAME} (two steps,
 * routing statistics in metrics.jsonl), {@code jlora generate --adapter} from the saved file, and {@code jlora merge}
 * refusing with a clear message.
 */
class MixtureCliTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    // One per-linear mixture and the FFN-level one; every method's file round trip and generation forward are checked
    // in the engine (MixtureRoutingTest), so the CLI path is not repeated for each (keeps CI time down).
    @CsvSource({"mola,'experts_per_layer=2,4'", "mixlora,num_experts=3"})
    void trainsGeneratesAndRefusesToMerge(String method, String arg) throws Exception {
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, """
                {"text": "Once upon a time, there was a cat named Tom. Tom liked milk."}
                {"text": "One day, Tom saw a bird. The bird sang a song."}
                """);
        Path out = dir.resolve("out");
        var r = TrainCommandTest.run("train", "demo", "--data", data.toString(), "--out", out.toString(), "--steps", "2",
                "--seq-len", "16", "--batch-size", "1", "--rank", "4", "--targets", "q,v,down", "--eval-fraction", "0",
                "--no-plot", "--method", method, "--method-arg", arg);
        assertEquals(0, r.code(), r.err());
        String metrics = Files.readString(out.resolve("metrics.jsonl"));
        assertTrue(metrics.contains("\"moe_expert_load\"") && metrics.contains("\"moe_router_entropy\""), metrics);

        var g = TrainCommandTest.run("generate", "demo", "--adapter", out.resolve("adapter.jlora").toString(),
                "--prompt", "Once upon a time", "--max-tokens", "8", "--temperature", "0");
        assertEquals(0, g.code(), g.err());
        assertTrue(g.out().startsWith("Once upon a time") && g.out().length() > "Once upon a time".length(), g.out());

        var m = TrainCommandTest.run("merge", "demo", "--adapter", out.resolve("adapter.jlora").toString(),
                "--out", dir.resolve("merged.gguf").toString());
        assertEquals(1, m.code(), m.out());
        assertTrue(m.err().contains("cannot be merged into W"), m.err());
    }

    @org.junit.jupiter.api.Test
    void xloraAndMeteoraMixTrainedAdaptersAndGenerate() throws Exception {
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, """
                {"text": "Once upon a time, there was a cat named Tom. Tom liked milk."}
                {"text": "One day, Tom saw a bird. The bird sang a song."}
                """);
        String[] common = {"--data", data.toString(), "--steps", "1", "--seq-len", "16", "--batch-size", "1",
                "--targets", "q,v", "--eval-fraction", "0", "--no-plot"};
        for (String name : new String[] {"a", "b"}) {
            var args = new java.util.ArrayList<>(java.util.List.of("train", "demo", "--out", dir.resolve(name).toString(),
                    "--rank", name.equals("a") ? "2" : "4", "--seed", name.equals("a") ? "1" : "2"));
            args.addAll(java.util.List.of(common));
            assertEquals(0, TrainCommandTest.run(args.toArray(String[]::new)).code());
        }
        var args = new java.util.ArrayList<>(java.util.List.of("train", "demo", "--out", dir.resolve("x").toString(),
                "--method", "xlora", "--method-arg", "adapters=" + dir.resolve("a/adapter.jlora") + ","
                        + dir.resolve("b/adapter.jlora")));
        args.addAll(java.util.List.of(common));
        var r = TrainCommandTest.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.readString(dir.resolve("x/metrics.jsonl")).contains("\"xlora_scaling_entropy\""));
        var g = TrainCommandTest.run("generate", "demo", "--adapter", dir.resolve("x/adapter.jlora").toString(),
                "--prompt", "Once upon a time", "--max-tokens", "8", "--temperature", "0");
        assertEquals(0, g.code(), g.err());
        assertTrue(g.out().startsWith("Once upon a time") && g.out().length() > "Once upon a time".length(), g.out());

        // MeteoRA over the same adapters: trained gates, then generation
        var met = new java.util.ArrayList<>(args);
        met.set(met.indexOf("xlora"), "meteora");
        met.set(met.indexOf(dir.resolve("x").toString()), dir.resolve("m").toString());
        met.addAll(java.util.List.of("--method-arg", "top_k=1"));
        var rm = TrainCommandTest.run(met.toArray(String[]::new));
        assertEquals(0, rm.code(), rm.err());
        var gm = TrainCommandTest.run("generate", "demo", "--adapter", dir.resolve("m/adapter.jlora").toString(),
                "--prompt", "Once upon a time", "--max-tokens", "8", "--temperature", "0");
        assertEquals(0, gm.code(), gm.err());

        args.set(args.indexOf("--method-arg") + 1, "softmax_temperature=1");
        var missing = TrainCommandTest.run(args.toArray(String[]::new));
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains("adapters=PATH,PATH"), missing.err());
    }
}
