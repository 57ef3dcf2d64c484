package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jlora.engine.ref.F32Matrix;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The full-weight adapter: y = x·(W + ΔW)ᵀ with ΔW dense, starting at 0. */
class FullAdapterTest {
    static final int IC = 7, OC = 5, T = 4;

    /** Float64 reference of Δ(x) = x·ΔWᵀ. */
    static final VariantRefs.Ref REF = (x, t, p) -> VariantRefs.abt(x, p.get(FullAdapter.DELTA), t, OC, IC);

    @Test
    void startsAtTheBaseAndTrainsEveryWeightOfTheLayer() {
        var full = new FullAdapter(IC, OC);
        assertEquals(List.of("delta_weight"), full.parameters().stream().map(Parameter::name).toList());
        assertArrayEquals(new int[] {OC, IC}, full.delta().shape());
        float[] y = new float[T * OC];
        full.forward(AdapterCheck.floats(new SplittableRandom(1), T * IC, 1), T, y);
        assertArrayEquals(new float[T * OC], y, 0f, "ΔW = 0 at initialisation: the output is the base's");
        assertEquals(Map.of("method", "full"), full.config());

        VariantsTest.randomize(full.delta(), new SplittableRandom(2), -1, 1);
        AdapterCheck.gradients(full, REF, T, 3);
        AdapterCheck.mergeMatchesForward(full, new F32Matrix(OC, IC, AdapterCheck.floats(new SplittableRandom(4), OC * IC, 1)), T, 5);
        AdapterCheck.stateRoundTrip(full, new FullAdapter(IC, OC), T, 6);
    }

    @Test
    void aFrozenAdapterPassesTheInputGradientButAccumulatesNoWeightGradient() {
        var full = new FullAdapter(IC, OC);
        VariantsTest.randomize(full.delta(), new SplittableRandom(7), -1, 1);
        var rnd = new SplittableRandom(8);
        float[] x = AdapterCheck.floats(rnd, T * IC, 1), dy = AdapterCheck.floats(rnd, T * OC, 1);
        float[] dxLive = new float[T * IC], dxFrozen = new float[T * IC];
        full.backward(x, T, dy, full.forwardTrain(x, T, new float[T * OC], 0), dxLive);
        full.delta().zeroGrad();
        full.setFrozen(true);
        full.backward(x, T, dy, full.forwardTrain(x, T, new float[T * OC], 0), dxFrozen);
        assertArrayEquals(dxLive, dxFrozen, 0f, "same input gradient, same arithmetic");
        assertArrayEquals(new float[OC * IC], full.delta().grad(), 0f, "no weight gradient while frozen");
    }

    @Test
    void isRegisteredAsMethodFull() {
        var m = dev.jlora.engine.ref.TinyTraining.model();
        var set = AdapterMethods.create("full", "kaiming", Map.of("rank", "8"), m.weights(),
                java.util.EnumSet.of(Target.Q, Target.DOWN), 1, null).adapters();
        var q = set.get(0, Target.Q);
        assertEquals("full", q.method());
        assertEquals(m.weights().layers().getFirst().wq().rows() * m.weights().layers().getFirst().wq().cols(),
                q.parameters().getFirst().size(), "one ΔW entry per weight of the layer");
    }
}
