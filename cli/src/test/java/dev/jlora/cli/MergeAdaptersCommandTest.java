package dev.jlora.cli;

import static dev.jlora.simd.testing.Approx.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jlora merge-adapters} on stories260K with two random LoRAs saved in different formats. */
class MergeAdaptersCommandTest {
    @TempDir
    static Path tmp;
    static Path gguf, first, second;
    static LlamaModel model;
    static TrainableAdapterSet a, b;

    static TrainableAdapterSet randomLora(LlamaModel model, int rank, float alpha, EnumSet<Target> targets, long seed) {
        var set = TrainableAdapterSet.lora(model.weights(), new LoraConfig(rank, alpha, 0f, false, targets), seed);
        var rnd = new SplittableRandom(seed);
        for (TrainableAdapter x : set.adapters()) {
            float[] bv = ((LoraAdapter) x).loraB().value();
            for (int i = 0; i < bv.length; i++) {
                bv[i] = (float) ((rnd.nextDouble() - 0.5) * 0.2);
            }
        }
        return set;
    }

    @BeforeAll
    static void setUp() throws Exception {
        gguf = CliRun.models().resolve("stories260K.gguf");
        model = ModelLoader.load(gguf);
        a = randomLora(model, 2, 4f, EnumSet.of(Target.Q, Target.V), 1);
        b = randomLora(model, 3, 6f, EnumSet.of(Target.Q, Target.UP), 2);
        first = tmp.resolve("a.jlora");
        second = tmp.resolve("b-peft");
        AdapterFiles.save(first, AdapterFiles.Format.JLORA, a, model.config(), "stories260K");
        AdapterFiles.save(second, AdapterFiles.Format.PEFT, b, model.config(), "stories260K");
    }

    static float[] delta(TrainableAdapter x) {
        float[] w = new float[x.outFeatures() * x.inFeatures()];
        x.mergeInto(w);
        return w;
    }

    /** Linear merge at the default rank (Σ rᵢ = 5) is the weighted sum of the updates; a target only one has keeps its ΔW. */
    @Test
    void linearMergeWritesTheWeightedSum() throws Exception {
        Path out = tmp.resolve("merged-peft");
        var run = CliRun.of("merge-adapters", first.toString(), second.toString(), "--model", gguf.toString(),
                "--weights", "1,0.5", "--out", out.toString());
        assertEquals(0, run.code(), run.err());
        assertTrue(run.out().contains("rank-5 LoRA"), run.out());
        var merged = AdapterFiles.load(out, model);
        assertEquals(EnumSet.of(Target.Q, Target.V, Target.UP), merged.targets());
        for (int l = 0; l < model.config().nLayers(); l++) {
            for (Target t : merged.targets()) {
                TrainableAdapter x = a.get(l, t), y = b.get(l, t);
                float[] want = new float[merged.get(l, t).outFeatures() * merged.get(l, t).inFeatures()];
                float[] dx = x == null ? new float[want.length] : delta(x), dy = y == null ? new float[want.length] : delta(y);
                double max = 0;
                for (int i = 0; i < want.length; i++) {
                    want[i] = dx[i] + 0.5f * dy[i];
                    max = Math.max(max, Math.abs(want[i]));
                }
                // float32 factors from a float64 SVD, then the file's float32: ~1e-6 of the largest entry
                int layer = l;
                assertClose(want, delta(merged.get(l, t)), 5e-6 * max, 0, () -> "layer " + layer + " " + t);
            }
        }
    }

    @Test
    void tiesToGgufAtAGivenRank() throws Exception {
        Path out = tmp.resolve("ties.gguf");
        var run = CliRun.of("merge-adapters", first.toString(), second.toString(), "--model", gguf.toString(),
                "--method", "ties", "--density", "0.2", "--rank", "4", "--out", out.toString());
        assertEquals(0, run.code(), run.err());
        assertTrue(run.out().contains("truncation error"), run.out());
        var merged = AdapterFiles.load(out, model);
        assertEquals(4, ((LoraAdapter) merged.get(0, Target.Q)).rank());
    }

    @Test
    void densityIsRequiredForTiesAndDare() {
        var run = CliRun.of("merge-adapters", first.toString(), "--model", gguf.toString(), "--method", "dare",
                "--out", tmp.resolve("x.jlora").toString());
        assertEquals(1, run.code());
        assertTrue(run.err().contains("needs --density"), run.err());
    }
}
