package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.data.JsonlDataset;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jlora eval} and {@code jlora export} on stories260K. */
class EvalExportCommandTest {
    @TempDir
    static Path tmp;
    static Path gguf, data, adapter;
    static LlamaModel model;
    static TrainableAdapterSet set;

    @BeforeAll
    static void setUp() throws Exception {
        gguf = CliRun.models().resolve("stories260K.gguf");
        model = ModelLoader.load(gguf);
        data = tmp.resolve("data.jsonl");
        Files.writeString(data, """
                {"text": "Once upon a time, there was a little girl named Lily."}

                {"text": "She loved to play outside in the park."}
                {"prompt": "One day, she saw", "completion": " a big, red ball."}
                """);
        set = TrainableAdapterSet.lora(model.weights(), new LoraConfig(2, 4f, 0f, false, EnumSet.of(Target.Q, Target.K, Target.DOWN)), 5);
        var rnd = new SplittableRandom(7);
        for (var a : set.adapters()) {
            float[] b = ((LoraAdapter) a).loraB().value();
            for (int i = 0; i < b.length; i++) {
                b[i] = (float) (rnd.nextDouble() - 0.5);
            }
        }
        adapter = tmp.resolve("run/adapter.jlora");
        Files.createDirectories(adapter.getParent());
        AdapterFile.save(adapter, set, Map.of());
    }

    /** The training graph's loss (an independent forward) over the same examples, token-weighted. */
    static double graphMeanNll(AdapterSet adapters) throws Exception {
        double sum = 0;
        long n = 0;
        for (var e : JsonlDataset.read(data, model.tokenizer())) {
            int T = e.tokens().length - 1;
            int[] in = Arrays.copyOf(e.tokens(), T), tgt = new int[T];
            for (int t = 0; t < T; t++) {
                tgt[t] = e.loss()[t + 1] ? e.tokens()[t + 1] : -100;
            }
            var loss = new LlamaTrainGraph(model.config(), model.weights(), adapters, 1, T, false).loss(in, tgt);
            sum += loss.loss() * loss.tokens();
            n += loss.tokens();
        }
        return sum / n;
    }

    @Test
    void evalJsonIsOneLineAndMatchesTheTrainingGraph() throws Exception {
        for (boolean withAdapter : new boolean[] {false, true}) {
            var run = withAdapter
                    ? CliRun.of("eval", gguf.toString(), "--data", data.toString(), "--adapter", adapter.getParent().toString(), "--json")
                    : CliRun.of("eval", gguf.toString(), "--data", data.toString(), "--json");
            assertEquals(0, run.code(), run.err());
            String[] lines = run.out().strip().split("\n");
            assertEquals(1, lines.length, run.out());
            Map<String, Object> o = Json.parseObject(lines[0], Json.Limits.DEFAULT, "eval output");
            assertEquals(java.util.List.of("mean_nll", "tokens", "perplexity"), java.util.List.copyOf(o.keySet()));
            double nll = ((Number) o.get("mean_nll")).doubleValue();
            double want = graphMeanNll(withAdapter ? set : AdapterSet.NONE);
            // inference forward (float32) against the training forward (float32, other kernels): 1e-5 relative
            assertEquals(want, nll, 1e-5 * want, "mean NLL, adapter=" + withAdapter);
            assertEquals(Math.exp(nll), ((Number) o.get("perplexity")).doubleValue(), 1e-9 * Math.exp(nll));
            // BOS + text + EOS: 12+1 and 9+1 predicted tokens for the texts; the completion's 6 tokens + EOS
            long tokens = ((Number) o.get("tokens")).longValue();
            long expected = 0;
            for (var e : JsonlDataset.read(data, model.tokenizer())) {
                expected += e.targetCount();
            }
            assertEquals(expected, tokens);
        }
        var plain = CliRun.of("eval", gguf.toString(), "--data", data.toString());
        assertEquals(0, plain.code(), plain.err());
        assertTrue(plain.out().contains("perplexity:"), plain.out());
    }

    /** {@code jlora generate --adapter} takes every format; the same adapter gives the same greedy text in each. */
    @Test
    void generateWithTheAdapterInEveryFormat() throws Exception {
        Path peft = tmp.resolve("gen-peft"), lora = tmp.resolve("gen.gguf");
        AdapterFiles.save(peft, AdapterFiles.Format.PEFT, set, model.config(), "stories260K");
        AdapterFiles.save(lora, AdapterFiles.Format.GGUF, set, model.config(), "stories260K");
        String[] base = {"generate", gguf.toString(), "--prompt", "Once upon a time", "--max-tokens", "24",
                "--temperature", "0", "--ignore-eos"};
        var plain = CliRun.of(base);
        assertEquals(0, plain.code(), plain.err());
        String first = null;
        for (Path a : new Path[] {adapter, adapter.getParent(), peft, lora}) {
            String[] args = Arrays.copyOf(base, base.length + 2);
            args[base.length] = "--adapter";
            args[base.length + 1] = a.toString();
            var r = CliRun.of(args);
            assertEquals(0, r.code(), r.err());
            if (first == null) {
                first = r.out();
                assertTrue(!first.equals(plain.out()), "the adapter must change the greedy text: " + first);
            } else {
                assertEquals(first, r.out(), "adapter " + a);
            }
        }
    }

    @Test
    void evalErrorsAreOneLine() {
        var run = CliRun.of("eval", gguf.toString(), "--data", tmp.resolve("missing.jsonl").toString());
        assertEquals(1, run.code());
        assertTrue(run.err().startsWith("jlora eval: ") && run.err().strip().lines().count() == 1, run.err());
        run = CliRun.of("eval", gguf.toString(), "--data", data.toString(), "--adapter", tmp.toString());
        assertEquals(1, run.code());
        assertTrue(run.err().contains("adapter_config.json"), run.err());
    }

    @Test
    void exportWritesPeftAndGgufThatLoadBackToTheSameDeltaW() throws Exception {
        for (String fmt : new String[] {"peft", "gguf"}) {
            Path out = tmp.resolve("export-" + fmt + (fmt.equals("gguf") ? ".gguf" : ""));
            var run = CliRun.of("export", adapter.toString(), "--format", fmt, "--base", gguf.toString(), "--out", out.toString());
            assertEquals(0, run.code(), run.err());
            assertEquals(fmt.equals("peft") ? AdapterFiles.Format.PEFT : AdapterFiles.Format.GGUF, AdapterFiles.detect(out));
            var back = AdapterFiles.load(out, model, msg -> {});
            for (int l = 0; l < model.config().nLayers(); l++) {
                for (Target t : set.targets()) {
                    var a = set.get(l, t);
                    float[] want = new float[a.inFeatures() * a.outFeatures()], got = want.clone();
                    a.mergeInto(want);
                    back.get(l, t).mergeInto(got);
                    assertArrayEquals(want, got, fmt + " layer " + l + " " + t);
                }
            }
        }
        var bad = CliRun.of("export", adapter.toString(), "--format", "onnx", "--base", gguf.toString(), "--out", tmp.resolve("x").toString());
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("expected peft, gguf or jlora"), bad.err());
    }

    /**
     * An adapter trained with {@code --rope-scale} keeps its factor in a .jlora export; PEFT and LoRA GGUF files have
     * no place for it, so the export says what the consumer must set (and the PEFT directory's README says it too).
     */
    @Test
    void exportKeepsOrStatesTheRopeScaleOfAContextExtendedAdapter() throws Exception {
        Path scaled = tmp.resolve("scaled/adapter.jlora");
        Files.createDirectories(scaled.getParent());
        AdapterFile.save(scaled, set, Map.of(AdapterFile.ROPE_SCALE_KEY, "2.0"));
        Path asJlora = tmp.resolve("scaled-copy.jlora");
        var run = CliRun.of("export", scaled.toString(), "--format", "jlora", "--base", gguf.toString(), "--out", asJlora.toString());
        assertEquals(0, run.code(), run.err());
        assertEquals("2.0", AdapterFile.readMeta(asJlora).get(AdapterFile.ROPE_SCALE_KEY));
        assertTrue(run.err().isEmpty(), run.err());

        Path peft = tmp.resolve("scaled-peft");
        run = CliRun.of("export", scaled.toString(), "--format", "peft", "--base", gguf.toString(), "--out", peft.toString());
        assertEquals(0, run.code(), run.err());
        assertTrue(run.err().contains("\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}"), run.err());
        assertTrue(Files.readString(peft.resolve("README.md")).contains("linear RoPE scaling 2.0"));

        run = CliRun.of("export", scaled.toString(), "--format", "gguf", "--base", gguf.toString(), "--out",
                tmp.resolve("scaled.gguf").toString());
        assertEquals(0, run.code(), run.err());
        assertTrue(run.err().contains("run llama.cpp with --rope-scale 2.0"), run.err());
    }
}
