package dev.jlora.engine.prune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.HyperParams;
import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.LoraPruneAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.prune.StructuredMask.Kind;
import dev.jlora.engine.ref.F32Matrix;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.InitBatches;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.simd.ScalarOps;
import java.util.EnumSet;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LoramTest {
    private static final HyperParams HALF = new HyperParams("loram", Map.of("ratio", "0.5"));

    /** Trained-looking LoRA on every linear of the pruned model: all values random, B non-zero. */
    private static TrainableAdapterSet trainedOnPruned(LlamaModel pruned) {
        var set = TrainableAdapterSet.lora(pruned.weights(),
                new LoraConfig(3, 6f, 0f, false, EnumSet.allOf(Target.class)), 4);
        var rnd = new SplittableRandom(17);
        for (var p : set.parameters()) {
            for (int i = 0; i < p.size(); i++) {
                p.value()[i] = (float) (rnd.nextDouble() * 2 - 1);
            }
        }
        return set;
    }

    private static float[] deltaW(LoraAdapter a) {
        float[] w = new float[a.outFeatures() * a.inFeatures()];
        a.mergeInto(w);
        return w;
    }

    /**
     * Defining property of recovery: B of q, k, v, gate, up holds the trained rows exactly at the kept row indices and
     * zeros at pruned ones; A of o, down holds the trained columns exactly at the kept column indices and zeros
     * elsewhere; the other factor is copied. Hence ΔW of the full model restricted to kept rows (columns) equals the
     * pruned-training ΔW and is 0 elsewhere — bit for bit: the same float products in the same order.
     */
    @Test
    void recoveryPutsTrainedValuesExactlyAtKeptIndicesAndDeltaWMatches() {
        LlamaModel full = TinyTraining.model();   // 2 blocks, 4 query heads in 2 KV groups of head size 4, FFN 24
        var loram = Loram.prune(full, HALF, 3, null);
        LlamaModel pruned = loram.prunedModel();
        assertEquals(1, pruned.config().nKvHeads());
        assertEquals(2, pruned.config().nHeads());
        assertEquals(12, pruned.config().hiddenDim());
        var small = trainedOnPruned(pruned);
        var big = loram.recover(small);
        for (int l = 0; l < 2; l++) {
            for (Target t : Target.values()) {
                var s = (LoraAdapter) small.get(l, t);
                var b = (LoraAdapter) big.get(l, t);
                assertEquals(TrainableAdapterSet.baseWeight(full.weights().layers().get(l), t).rows(), b.outFeatures());
                float[] dwSmall = deltaW(s), dwBig = deltaW(b);
                int IC = b.inFeatures(), icS = s.inFeatures(), r = s.rank();
                if (StructuredMask.groupsRows(t)) {
                    int[] keep = loram.mask().keptIndices(l, t, b.outFeatures());
                    assertEquals(s.outFeatures(), keep.length);
                    boolean[] kept = new boolean[b.outFeatures()];
                    for (int j = 0; j < keep.length; j++) {
                        kept[keep[j]] = true;
                        for (int k = 0; k < r; k++) {
                            assertEquals(s.loraB().value()[j * r + k], b.loraB().value()[keep[j] * r + k], 0f, "B value");
                        }
                        for (int i = 0; i < IC; i++) {
                            assertEquals(dwSmall[j * IC + i], dwBig[keep[j] * IC + i], 0f, t + " ΔW row " + keep[j]);
                        }
                    }
                    assertArrayEquals(s.loraA().value(), b.loraA().value(), 0f, "A copied");
                    for (int o = 0; o < kept.length; o++) {
                        for (int k = 0; k < r && !kept[o]; k++) {
                            assertEquals(0f, b.loraB().value()[o * r + k], "B zero at pruned row " + o);
                        }
                    }
                } else {
                    int[] keep = loram.mask().keptIndices(l, t, IC);
                    assertEquals(icS, keep.length);
                    for (int o = 0; o < b.outFeatures(); o++) {
                        int j = 0;
                        for (int i = 0; i < IC; i++) {
                            if (j < keep.length && keep[j] == i) {
                                assertEquals(dwSmall[o * icS + j], dwBig[o * IC + i], 0f, t + " ΔW column " + i);
                                j++;
                            } else {
                                assertEquals(0f, dwBig[o * IC + i], t + " ΔW zero at pruned column " + i);
                            }
                        }
                    }
                    assertArrayEquals(s.loraB().value(), b.loraB().value(), 0f, "B copied");
                }
            }
        }
    }

    /**
     * The pruned model is the full model with its pruned structures removed: its logits equal those of the full model
     * whose pruned structures are masked to zero by LoRAPrune layers with B = 0 (the shared {@link StructuredMask});
     * F32 weights, scalar kernels, 1e-5 for sum-order differences (the full matmuls add exact zeros). It stores less.
     */
    @Test
    void prunedModelComputesTheMaskedFullModelAndStoresLess() {
        LlamaModel full = TinyTraining.model();
        var loram = Loram.prune(full, HALF, 5, null);
        var masked = AdapterMethods.create(LoraPruneAdapter.METHOD, "kaiming", Map.of("rank", "2"), full.weights(),
                EnumSet.allOf(Target.class), 1, null).adapters();
        for (int l = 0; l < 2; l++) {
            for (Target t : Target.values()) {
                var ad = (LoraPruneAdapter) masked.get(l, t);
                ad.setMask(loram.mask().rowMask(l, t, ad.outFeatures()));
            }
        }
        int[] tokens = new int[24];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = 40 + (i * 5) % 50;
        }
        float[] want = new LlamaTrainGraph(full.config(), full.weights(), masked, 1, 24, false, ScalarOps.INSTANCE)
                .logits(tokens);
        LlamaModel p = loram.prunedModel();
        float[] got = new LlamaTrainGraph(p.config(), p.weights(), dev.jlora.engine.adapter.AdapterSet.NONE, 1, 24,
                false, ScalarOps.INSTANCE).logits(tokens);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-5, "logit " + i);
        }
        assertTrue(p.weights().storageBytes() < full.weights().storageBytes(), "the pruned base is smaller");
    }

    /**
     * criterion=taylor (LLM-Pruner's first order Σ|W ⊙ ∂L/∂W|) prunes the structures whose weights are zero (their
     * importance is exactly 0): head group 1 and the even channels of block 0 are zeroed in every module they own.
     */
    @Test
    void taylorCriterionPrunesStructuresWithoutWeight() throws Exception {
        LlamaModel full = TinyTraining.model();
        var mask = StructuredMask.of(full.config());
        mask.prune(0, Kind.HEADS, 1);
        for (int c = 0; c < 24; c += 2) {
            mask.prune(0, Kind.CHANNELS, c);
        }
        for (Target t : Target.values()) {
            var w = (F32Matrix) TrainableAdapterSet.baseWeight(full.weights().layers().get(0), t);
            boolean rows = StructuredMask.groupsRows(t);
            var keep = new java.util.HashSet<Integer>();
            for (int k : mask.keptIndices(0, t, rows ? w.rows() : w.cols())) {
                keep.add(k);
            }
            for (int o = 0; o < w.rows(); o++) {
                for (int i = 0; i < w.cols(); i++) {
                    if (!keep.contains(rows ? o : i)) {
                        w.w()[o * w.cols() + i] = 0f;
                    }
                }
            }
        }
        var data = new InitBatches(full, TinyTraining.data(24), 2, 7);
        var loram = Loram.prune(full, new HyperParams("loram", Map.of("ratio", "0.5", "criterion", "taylor",
                "calibration_batches", "2")), 7, data);
        assertArrayEquals(mask.kept(0, Kind.HEADS), loram.mask().kept(0, Kind.HEADS));
        assertArrayEquals(mask.kept(0, Kind.CHANNELS), loram.mask().kept(0, Kind.CHANNELS));
    }
}
