package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.infer.GenerationConfig;
import dev.jlora.engine.infer.Generator;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.infer.SamplerConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GenerateCommandTest {
    /** README golden output of stories260K, greedy, no stop at EOS. */
    static final String GOLDEN = "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
            + "park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily";

    @Test
    void greedyDemoPrintsTheGoldenStoryAndTokensPerSecond() {
        var r = CliRun.of("generate", "demo", "--prompt", "Once upon a time", "--max-tokens", "60",
                "--temperature", "0", "--ignore-eos");
        assertEquals(0, r.code(), r.err());
        assertEquals(GOLDEN, r.out().strip());
        assertTrue(r.err().contains("prompt: 5 tokens"), r.err());
        assertTrue(r.err().matches("(?s).*generated: 60 tokens, decode [0-9.]+ tokens/s, stopped by max tokens.*"), r.err());
    }

    @Test
    void fp16KvCacheGivesTheGoldenStoryToo() {
        var r = CliRun.of("generate", "demo", "--prompt", "Once upon a time", "--max-tokens", "60",
                "--temperature", "0", "--ignore-eos", "--kv-type", "f16", "--max-memory", "64M");
        assertEquals(0, r.code(), r.err());
        assertEquals(GOLDEN, r.out().strip());
        var bad = CliRun.of("generate", "demo", "--prompt", "x", "--kv-type", "q8_0");
        assertEquals(1, bad.code());
        assertTrue(bad.err().strip().endsWith("unknown KV cache type 'q8_0': expected f32 or f16"), bad.err());
    }

    @Test
    void seededSamplingIsReproducibleAndSeedsDiffer() {
        String model = CliRun.models().resolve("stories260K.gguf").toString();
        var a = CliRun.of("generate", model, "--prompt", "Once upon a time", "--max-tokens", "40", "--temperature", "1.0",
                "--seed", "7", "--top-k", "0", "--top-p", "1", "--min-p", "0", "--ignore-eos");
        var b = CliRun.of("generate", model, "--prompt", "Once upon a time", "--max-tokens", "40", "--temperature", "1.0",
                "--seed", "7", "--top-k", "0", "--top-p", "1", "--min-p", "0", "--ignore-eos");
        var c = CliRun.of("generate", model, "--prompt", "Once upon a time", "--max-tokens", "40", "--temperature", "1.0",
                "--seed", "8", "--top-k", "0", "--top-p", "1", "--min-p", "0", "--ignore-eos");
        assertEquals(0, a.code(), a.err());
        assertEquals(a.out(), b.out());
        assertNotEquals(a.out(), c.out());
        assertTrue(a.err().contains("seed 7"), a.err());
    }

    @Test
    void stopStringEndsTheTextBeforeIt() {
        var r = CliRun.of("generate", "demo", "--prompt", "Once upon a time", "--max-tokens", "60",
                "--temperature", "0", "--stop", "Lily");
        assertEquals(0, r.code(), r.err());
        assertEquals("Once upon a time, there was a little girl named", r.out().strip());
        assertTrue(r.err().contains("stopped by stop string"), r.err());
    }

    @Test
    void badOptionsGiveOneLineErrors() {
        var r = CliRun.of("generate", "demo", "--prompt", "x", "--top-p", "2");
        assertEquals(1, r.code());
        assertTrue(r.err().strip().endsWith("top-p must be in (0, 1] (1 = off), got 2.0"), r.err());
        var q = CliRun.of("generate", "demo", "--prompt", "x", "--backend", "cuda");
        assertEquals(1, q.code());
        assertTrue(q.err().contains("backend 'cuda' is not available"), q.err());
    }

    /** --backend openblas puts the demo model's fp32 weights on OpenBLAS; greedy text matches the Java backend. */
    @Test
    @org.junit.jupiter.api.Tag("native")
    void openblasBackendRunsTheFp32WeightsAndGivesTheSameGreedyText() {
        var java = CliRun.of("generate", "demo", "--prompt", "Once upon a time", "--max-tokens", "8",
                "--temperature", "0", "--backend", "java");
        assertEquals(0, java.code(), java.err());
        var blas = CliRun.of("generate", "demo", "--prompt", "Once upon a time", "--max-tokens", "8",
                "--temperature", "0", "--backend", "openblas");
        if (blas.code() != 0 && System.getenv("CI") == null) {
            org.junit.jupiter.api.Assumptions.assumeTrue(false, "OpenBLAS not available here: " + blas.err());
        }
        assertEquals(0, blas.code(), blas.err());
        // stories260K is all-F32: its 7 matrices per layer × 5 layers plus the tied output/embedding.
        assertTrue(blas.err().matches("(?s).*backend: openblas, [1-9][0-9]* weight matrices on it.*"), blas.err());
        assertTrue(java.err().contains("backend: java, 0 weight matrices on it"), java.err());
        // Greedy decoding of 8 tokens: logits differ only by summation order (~1e-6), far below the top-2 gaps.
        assertEquals(java.out(), blas.out());
    }

    /** --adapter loads a PEFT directory and generates what the in-process Generator does with the same adapters. */
    @Test
    void adapterDirectoryChangesTheStoryAsInProcess(@TempDir Path dir) throws Exception {
        String path = CliRun.models().resolve("stories260K.gguf").toString();
        LlamaModel m = CliModels.load(path, null);
        var set = TrainableAdapterSet.lora(m.weights(), new LoraConfig(4, 8f, 0f, false,
                Set.of(Target.Q, Target.V, Target.DOWN)), 3);
        var rnd = new SplittableRandom(4);
        for (Parameter p : set.parameters()) {
            for (int i = 0; i < p.value().length; i++) {
                p.value()[i] = (float) rnd.nextDouble(-0.2, 0.2);   // B ≠ 0, so the adapter changes the output
            }
        }
        Path peft = dir.resolve("peft");
        AdapterFiles.save(peft, AdapterFiles.Format.PEFT, set, m.config(), "stories260K");

        var r = CliRun.of("generate", path, "--adapter", peft.toString(), "--prompt", "Once upon a time",
                "--max-tokens", "30", "--temperature", "0", "--ignore-eos");
        assertEquals(0, r.code(), r.err());

        AdapterSet loaded = AdapterFiles.load(peft, m);
        var gen = new Generator(new InferenceSession(m, loaded, 64), m.tokenizer());
        String expected = gen.generate(m.tokenizer().encode("Once upon a time", true, false),
                new GenerationConfig(30, SamplerConfig.greedy(), List.of(), false), Generator.Listener.NONE).text();
        assertEquals("Once upon a time" + expected, r.out().strip());
        assertNotEquals(GOLDEN.substring(0, 60), r.out().strip().substring(0, Math.min(60, r.out().strip().length())));
    }
}
