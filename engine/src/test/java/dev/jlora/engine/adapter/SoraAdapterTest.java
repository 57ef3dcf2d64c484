package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** SoRA's gated LoRA: float64 finite differences, merge, round trip, and zero gates removing rank. */
class SoraAdapterTest {
    static final int IC = 7, OC = 6, R = 4, T = 4;

    @Test
    void gatedLoraMatchesItsReferenceAndZeroGatesRemoveRank() {
        var sora = new SoraAdapter(IC, OC, R, 8f, 0);
        sora.init(new SplittableRandom(1));
        assertEquals(List.of("lora_A", "lora_B", "sora_gate"), sora.parameters().stream().map(Parameter::name).toList());
        for (double v : ReparamVariantsTest.delta(sora)) {
            assertEquals(0.0, v, 0.0, "B = 0: ΔW = 0 at step 0");
        }
        assertEquals(R, sora.activeRank(), "randn gates are nonzero");
        VariantsTest.randomize(sora.loraB(), new SplittableRandom(2), -1, 1);
        AdapterCheck.gradients(sora, VariantRefs.diagonalLowRank(IC, OC, R, 8.0 / R, "sora_gate"), T, 3);
        AdapterCheck.mergeMatchesForward(sora, ReparamVariantsTest.matrix(OC, IC, 4), T, 5);
        AdapterCheck.stateRoundTrip(sora, new SoraAdapter(IC, OC, R, 8f, 0), T, 6);
        // Defining property: a gate at exactly 0 removes its rank-one component from ΔW, so the adapter's rank is
        // the number of nonzero gates (rank by complete-pivoting elimination, 1e-5 relative: fp32 products).
        assertEquals(R, ReparamVariantsTest.numericalRank(ReparamVariantsTest.delta(sora), OC, IC, 1e-5));
        sora.gate().value()[1] = 0;
        sora.gate().value()[3] = 0;
        assertEquals(2, sora.activeRank());
        assertEquals(2, ReparamVariantsTest.numericalRank(ReparamVariantsTest.delta(sora), OC, IC, 1e-5));
        AdapterCheck.mergeMatchesForward(sora, ReparamVariantsTest.matrix(OC, IC, 7), T, 8);
        // Export form: a plain LoRA of the active rank with the same ΔW (fp32 products in another order: 1e-6 abs).
        LoraAdapter lora = sora.prunedLora();
        assertEquals(2, lora.rank());
        dev.jlora.simd.testing.Approx.assertClose(ReparamVariantsTest.delta(sora),
                ReparamVariantsTest.toFloats(ReparamVariantsTest.delta(lora)), 1e-6, 1e-5, () -> "pruned LoRA ΔW");
        java.util.Arrays.fill(sora.gate().value(), 0f);
        assertEquals(1, sora.prunedLora().rank(), "all pruned: rank-1 zero LoRA");
        for (double v : ReparamVariantsTest.delta(sora.prunedLora())) {
            assertEquals(0.0, v, 0.0);
        }
    }
}
