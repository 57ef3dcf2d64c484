package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.ref.TinyLlama;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.simd.testing.Approx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every registered method end to end on a tiny model: step-0 logits, a gradient step's effect, save and load. */
class AdapterMethodsTest {
    static final LlamaConfig CFG = TinyLlama.config(16, 24, 2, 4, 2, 32, false, false);
    static final Set<Target> TARGETS = EnumSet.of(Target.Q, Target.V, Target.DOWN);
    static final int B = 2, T = 5;

    static int[] tokens(long seed) {
        var rnd = new SplittableRandom(seed);
        int[] t = new int[B * T];
        for (int i = 0; i < t.length; i++) {
            t[i] = rnd.nextInt(CFG.vocabSize());
        }
        return t;
    }

    static Map<String, String> params(String method) {
        return switch (method) {
            case "vera" -> Map.of("rank", "6", "d_initial", "0.1", "projection_prng_key", "7");
            case "nola" -> Map.of("rank", "4", "alpha", "8", "num_basis_A", "5", "num_basis_B", "6", "basis_seed", "3");
            default -> Map.of("rank", "4", "alpha", "8", "dropout", "0", "rs_lora", "false");
        };
    }

    @ParameterizedTest
    @ValueSource(strings = {"lora", "dora", "vera", "nola", "loldu", "bone", "mora", "randlora", "hydra", "mos"})
    void startsAtTheBaseModelTrainsAndRoundTripsThroughAnAdapterFile(String method, @TempDir Path dir) throws Exception {
        LlamaWeights w = TinyLlama.weights(CFG, 1);
        int[] in = tokens(2), tgt = tokens(3);
        float[] baseLogits = new LlamaTrainGraph(CFG, w, AdapterSet.NONE, B, T, false).logits(in);

        var m = AdapterMethods.create(method, "kaiming", params(method), w, TARGETS, 4, null);
        assertEquals(method, m.adapters().get(0, Target.Q).method());
        var graph = new LlamaTrainGraph(CFG, m.weights(), m.adapters(), B, T, false);
        Approx.assertClose(baseLogits, graph.logits(in), 1e-5, 1e-5, () -> method + ": step-0 logits equal the base model's");

        // One SGD step on the trainable parameters only must change the loss (gradients reach every method's tensors).
        m.adapters().zeroGrad();
        double before = graph.forwardBackward(in, tgt, 0, 1f).loss();
        double gradNorm = 0;
        for (Parameter p : m.adapters().parameters()) {
            for (int i = 0; i < p.size(); i++) {
                gradNorm += (double) p.grad()[i] * p.grad()[i];
            }
        }
        assertTrue(gradNorm > 0, method + ": no gradient reached the adapter");
        for (Parameter p : m.adapters().parameters()) {
            for (int i = 0; i < p.size(); i++) {
                p.value()[i] -= (float) (0.5 / Math.sqrt(gradNorm)) * p.grad()[i];
            }
        }
        double after = graph.loss(in, tgt).loss();
        assertTrue(after < before, method + ": a small step against the gradient lowers the loss: " + before + " → " + after);

        Path file = dir.resolve("a.jlora");
        AdapterFile.save(file, m.adapters(), Map.of());
        var loaded = AdapterFile.load(file, w, AdapterMethods.loader(w));
        var want = m.adapters().state();
        var got = loaded.state();
        assertEquals(want.keySet(), got.keySet());
        for (var e : want.entrySet()) {
            assertArrayEquals(e.getValue(), got.get(e.getKey()), method + ": " + e.getKey());
        }
        float[] a = graph.logits(in);
        float[] b = new LlamaTrainGraph(CFG, w, loaded, B, T, false).logits(in);
        // The loaded tensors are bit-identical (checked above); the two forwards may still differ in the last bit
        // because the Vector API kernels can run in different JIT tiers, so compare within float rounding.
        Approx.assertClose(a, b, 1e-5, 1e-5, () -> method + ": loaded adapter gives the trained logits");
        assertTrue(Files.size(file) > 0);
    }

    @Test
    void initsApplyToLoraAndResidualInitsReplaceTheBase() {
        LlamaWeights w = TinyLlama.weights(CFG, 5);
        var m = AdapterMethods.create("lora", "olora", params("lora"), w, TARGETS, 6, F16TestMatrix.REQUANTIZER);
        assertEquals(2 * TARGETS.size(), m.residuals().size());
        assertTrue(m.maxRelativeError() < 1e-6, "fp32 residual: " + m.maxRelativeError());
        var e = assertThrows(IllegalArgumentException.class,
                () -> AdapterMethods.create("vera", "pissa", params("vera"), w, TARGETS, 6, null));
        assertTrue(e.getMessage().contains("applies to lora and dora only"), e.getMessage());
        var d = AdapterMethods.create("dora", "pissa", params("dora"), w, TARGETS, 6, F16TestMatrix.REQUANTIZER);
        assertEquals(2 * TARGETS.size(), d.residuals().size(), "DoRA with PiSSA sits on the residuals");
    }

    @Test
    void unknownMethodsAndKeysAreNamed() {
        LlamaWeights w = TinyLlama.weights(CFG, 7);
        var e = assertThrows(IllegalArgumentException.class,
                () -> AdapterMethods.create("no-such-method", "kaiming", Map.of(), w, TARGETS, 1, null));
        // every registered method is listed (the registry grows, so the list is read from it)
        assertTrue(e.getMessage().contains("expected one of "
                + AdapterMethods.methods().stream().map(AdapterMethods.Method::name).toList()), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> AdapterMethods.create("vera", "kaiming", Map.of("num_basis_A", "3"), w, TARGETS, 1, null));
        assertTrue(e.getMessage().contains("vera has no hyper-parameter 'num_basis_A'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> AdapterMethods.create("lora", "kaiming", Map.of("rank", "four"), w, TARGETS, 1, null));
        assertTrue(e.getMessage().contains("'rank' must be a whole number, got 'four'"), e.getMessage());
    }
}
