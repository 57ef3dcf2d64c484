package dev.jlora.engine.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.adapter.TrainableBase;
import dev.jlora.engine.ref.LlamaRef;
import java.io.IOException;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** Trainable embedding, norms and head in the training graph: gradients, saving, merging. */
class TrainableBaseTest {
    static final int B = LlamaTrainGraphTest.B, T = LlamaTrainGraphTest.T;

    @TempDir
    Path dir;

    /** The LoRA setup of LlamaTrainGraphTest plus every base part, perturbed away from the base values. */
    static TrainableAdapterSet withBase(LlamaTrainGraphTest.Setup s) {
        var set = s.ad().withBase(TrainableBase.copyOf(s.w(), EnumSet.allOf(TrainableBase.Part.class)));
        var rnd = new SplittableRandom(9);
        for (Parameter p : set.base().parameters()) {
            for (int i = 0; i < p.size(); i++) {
                p.value()[i] += (float) ((rnd.nextDouble() * 2 - 1) * 0.1);
            }
        }
        return set;
    }

    @ParameterizedTest(name = "checkpointing={0}")
    @ValueSource(booleans = {false, true})
    void baseGradientsMatchFloat64FiniteDifferences(boolean checkpointing) {
        var s = LlamaTrainGraphTest.setup(true, false, 42);
        TrainableAdapterSet set = withBase(s);
        var graph = new LlamaTrainGraph(s.cfg(), s.w(), set, B, T, checkpointing);
        var loss = graph.forwardBackward(s.in(), s.tgt(), 0, 1f);
        LlamaRef ref = LlamaTrainGraphTest.reference(s);
        for (Parameter p : set.base().parameters()) {
            ref.base().put(p.name(), LlamaTrainGraphTest.toDouble(p.value()));
        }
        // float32 forward of a 2-layer model: loss agrees with float64 to ~1e-6 relative
        assertEquals(ref.loss(s.in(), s.tgt(), B, T), loss.loss(), 2e-5, "loss vs float64 reference");
        double eps = 1e-5, maxGrad = 0;
        int checked = 0;
        for (Parameter p : set.base().parameters()) {
            double[] v = ref.base().get(p.name());
            for (int i = 0; i < v.length; i++) {
                double keep = v[i];
                v[i] = keep + eps;
                double up = ref.loss(s.in(), s.tgt(), B, T);
                v[i] = keep - eps;
                double down = ref.loss(s.in(), s.tgt(), B, T);
                v[i] = keep;
                double fd = (up - down) / (2 * eps);   // truncation O(eps²) ≈ 1e-10, rounding ≈ 1e-11
                // float32 backward vs float64 finite differences, as for the LoRA gradients: 1e-5 abs + 1e-4 rel
                assertEquals(fd, p.grad()[i], 1e-5 + 1e-4 * Math.abs(fd), p.name() + "[" + i + "]");
                maxGrad = Math.max(maxGrad, Math.abs(fd));
                checked++;
            }
        }
        assertTrue(checked == 11 * 8 * 2 + 8 * 5, "embedding, head, 4 block norms and the final norm: " + checked);
        assertTrue(maxGrad > 1e-3, "gradients are not trivially zero (max |g| = " + maxGrad + ")");
    }

    @Test
    void appliedWeightsGiveTheTrainedForwardAndFilesRoundTrip() throws IOException {
        var s = LlamaTrainGraphTest.setup(false, false, 5);
        TrainableAdapterSet set = withBase(s);
        float[] trained = new LlamaTrainGraph(s.cfg(), s.w(), set, B, T, false).logits(s.in());
        // merged view: the base tensors replaced by the trained ones, adapters still applied unmerged
        float[] applied = new LlamaTrainGraph(s.cfg(), set.base().applyTo(s.w()), s.ad(), B, T, false).logits(s.in());
        assertArrayEquals(trained, applied, 1e-6f, "same fp32 values, same kernels: equal up to rounding");

        Path file = dir.resolve("a.jlora");
        AdapterFile.save(file, set, java.util.Map.of());
        assertEquals("embed,norms,head", AdapterFile.readMeta(file).get(AdapterFile.TRAIN_BASE_KEY));
        TrainableAdapterSet loaded = AdapterFile.load(file, s.w());
        assertEquals(set.parameters().stream().map(Parameter::name).toList(),
                loaded.parameters().stream().map(Parameter::name).toList());
        for (int i = 0; i < set.parameters().size(); i++) {
            assertArrayEquals(set.parameters().get(i).value(), loaded.parameters().get(i).value(), 0f,
                    set.parameters().get(i).name());
        }
        assertArrayEquals(trained, new LlamaTrainGraph(s.cfg(), s.w(), loaded, B, T, false).logits(s.in()), 1e-5f,
                "a loaded adapter computes what was saved (1e-5: the Vector API's reductions may change the last bit "
                        + "between JIT tiers)");
    }

    @Test
    void partsParseAndRejectUnknownNames() {
        assertEquals(EnumSet.of(TrainableBase.Part.EMBED, TrainableBase.Part.HEAD), TrainableBase.Part.parse("head, embed"));
        var e = assertThrows(IllegalArgumentException.class, () -> TrainableBase.Part.parse("embed,lm_head"));
        assertTrue(e.getMessage().contains("'lm_head' is not one of embed, norms, head"), e.getMessage());
        var s = LlamaTrainGraphTest.setup(false, false, 5);
        e = assertThrows(IllegalArgumentException.class, () -> TrainableBase.copyOf(s.w(), EnumSet.noneOf(TrainableBase.Part.class)));
        assertTrue(e.getMessage().contains("at least one"), e.getMessage());
        List<String> names = TrainableBase.copyOf(s.w(), EnumSet.of(TrainableBase.Part.NORMS)).parameters().stream()
                .map(Parameter::name).toList();
        assertEquals(List.of("layers.0.input_layernorm.weight", "layers.0.post_attention_layernorm.weight",
                "layers.1.input_layernorm.weight", "layers.1.post_attention_layernorm.weight", "norm.weight"), names);
    }
}
