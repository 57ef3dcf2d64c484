package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.ref.LlamaRef;
import dev.jlora.engine.ref.TinyLlama;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.engine.train.TrainListener;
import dev.jlora.engine.train.Trainer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Flexora (Wei et al. 2024): layer gates, their hyper-gradient, and the selection that follows them. */
class FlexoraTest {
    @TempDir
    Path dir;

    static final int B = 2, T = 5, LAYERS = 3;

    /**
     * ∂loss/∂α through the graph's layer gates and α̂ = L·softmax(α), against float64 central differences of
     * {@link LlamaRef}. A LoRA branch is linear in B, so the reference applies gate l by scaling layer l's B matrices
     * by α̂_l — built independently of the graph's gating code.
     */
    @Test
    void gateGradientMatchesFloat64FiniteDifferences() {
        LlamaConfig cfg = TinyLlama.config(8, 12, LAYERS, 2, 1, 11, true, false);
        LlamaWeights w = TinyLlama.weights(cfg, 21);
        var ad = TrainableAdapterSet.lora(w, new LoraConfig(2, 4f, 0f, false, EnumSet.allOf(Target.class)), 22);
        var rnd = new SplittableRandom(23);
        for (Parameter p : ad.parameters()) {
            if (p.name().endsWith("lora_B")) {
                for (int i = 0; i < p.size(); i++) {
                    p.value()[i] = (float) ((rnd.nextDouble() * 2 - 1) * 0.5);
                }
            }
        }
        int[] in = new int[B * T], tgt = new int[B * T];
        for (int i = 0; i < in.length; i++) {
            in[i] = rnd.nextInt(cfg.vocabSize());
            tgt[i] = rnd.nextInt(cfg.vocabSize());
        }
        float[] alpha = {0.3f, -0.5f, 0.1f}, gates = new float[LAYERS], dGates = new float[LAYERS];
        float[] dAlpha = new float[LAYERS];
        Flexora.gates(alpha, gates);
        var graph = new LlamaTrainGraph(cfg, w, ad, B, T, false);
        graph.setLayerGates(gates, dGates);
        double loss = graph.forwardBackward(in, tgt, 0, 1f).loss();
        Flexora.gatesBackward(gates, dGates, dAlpha);

        double[] alphaD = {0.3f, -0.5f, 0.1f};
        assertEquals(gatedReferenceLoss(cfg, w, ad, alphaD, in, tgt), loss, 2e-5, "gated loss vs float64 reference");
        double eps = 1e-5;
        for (int j = 0; j < LAYERS; j++) {
            double keep = alphaD[j];
            alphaD[j] = keep + eps;
            double up = gatedReferenceLoss(cfg, w, ad, alphaD, in, tgt);
            alphaD[j] = keep - eps;
            double down = gatedReferenceLoss(cfg, w, ad, alphaD, in, tgt);
            alphaD[j] = keep;
            double fd = (up - down) / (2 * eps);   // truncation O(eps²) ≈ 1e-10
            // float32 forward/backward vs float64 central differences: 1e-5 absolute + 1e-4 relative
            assertEquals(fd, dAlpha[j], 1e-5 + 1e-4 * Math.abs(fd), "dL/dα[" + j + "]");
            assertTrue(Math.abs(fd) > 1e-4, "α[" + j + "] moves the loss (fd " + fd + ")");
        }
        double sum = 0;
        for (float d : dAlpha) {
            sum += d;
        }
        assertEquals(0, sum, 1e-6, "softmax is shift-invariant: the α gradient sums to 0");
    }

    /** Loss of the float64 reference with layer l's LoRA B scaled by L·softmax(α)_l. */
    private static double gatedReferenceLoss(LlamaConfig cfg, LlamaWeights w, TrainableAdapterSet ad, double[] alpha,
                                             int[] in, int[] tgt) {
        double max = Double.NEGATIVE_INFINITY, z = 0;
        for (double a : alpha) {
            max = Math.max(max, a);
        }
        for (double a : alpha) {
            z += Math.exp(a - max);
        }
        var m = new HashMap<Integer, double[][]>();
        for (int l = 0; l < cfg.nLayers(); l++) {
            double gate = cfg.nLayers() * Math.exp(alpha[l] - max) / z;
            for (Target t : Target.values()) {
                var a = (LoraAdapter) ad.get(l, t);
                double[] bScaled = new double[a.loraB().size()];
                for (int i = 0; i < bScaled.length; i++) {
                    bScaled[i] = gate * a.loraB().value()[i];
                }
                double[] aD = new double[a.loraA().size()];
                for (int i = 0; i < aD.length; i++) {
                    aD[i] = a.loraA().value()[i];
                }
                m.put(LlamaRef.key(l, t), new double[][] {aD, bScaled});
            }
        }
        return new LlamaRef(cfg, w, m, 2.0).loss(in, tgt, B, T);
    }

    private static List<float[]> values(TrainableAdapterSet a) {
        var out = new ArrayList<float[]>();
        for (Parameter p : a.parameters()) {
            out.add(p.value().clone());
        }
        return out;
    }

    /**
     * The defining property: the gates move during the search; the selected layers are exactly those whose gate ends
     * above 1 (α &gt; 0); after the search the adapters restart from their initial values and only the selected
     * layers' adapters change, the others stay at their initial values.
     */
    @Test
    void afterTheSearchOnlyTheLayersSelectedByTheLearnedGatesChange() throws IOException {
        var m = TinyTraining.model();
        var adapters = TrainableAdapterSet.lora(m.weights(), TinyTraining.LORA, 1);
        var cfg = TinyTraining.config().steps(6).evalEvery(0).build();
        var data = TinyTraining.data(cfg.seqLen());
        var hook = (Flexora) TrainingMethods.create(List.of("flexora"), Map.of("flexora_search_steps", "3",
                "flexora_lr", "0.05", "flexora_val_batches", "1"), new TrainingMethods.Context(m, adapters, data, cfg))
                .getFirst();
        List<float[]> initial = values(adapters);
        var atStep = new ArrayList<List<float[]>>();
        var selectedAt = new ArrayList<int[]>();
        var alphaAtSearchEnd = new float[1][];
        new Trainer(m, adapters, data, cfg, dir, List.of(hook)).train(new TrainListener() {
            @Override public void onStep(Step s) {
                atStep.add(values(adapters));
                selectedAt.add(hook.selectedLayers());
                if (s.step() == 3) {
                    alphaAtSearchEnd[0] = hook.alpha();
                }
            }
        });
        for (int s = 0; s < 3; s++) {
            assertNull(selectedAt.get(s), "searching during step " + (s + 1));
        }
        float[] alpha = alphaAtSearchEnd[0];
        float[] gates = new float[alpha.length];
        Flexora.gates(alpha, gates);
        assertTrue(Math.abs(gates[0] - 1) > 1e-3, "the gates moved away from 1: " + java.util.Arrays.toString(gates));
        int[] selected = selectedAt.get(3);
        var want = new ArrayList<Integer>();
        for (int l = 0; l < gates.length; l++) {
            if (gates[l] > 1) {
                want.add(l);
            }
        }
        assertEquals(want, java.util.Arrays.stream(selected).boxed().toList(), "selected = layers with gate > 1");
        assertTrue(selected.length >= 1 && selected.length < adapters.layerCount(), "some, not all, layers selected");

        List<Parameter> params = adapters.parameters();
        List<float[]> last = atStep.getLast();
        for (int i = 0; i < params.size(); i++) {
            int l = Lisa.layerOf(params.get(i));
            boolean isSelected = java.util.Arrays.stream(selected).anyMatch(x -> x == l);
            if (isSelected && params.get(i).name().endsWith("lora_B")) {
                assertFalse(java.util.Arrays.equals(initial.get(i), last.get(i)),
                        params.get(i).name() + " of a selected layer is fine-tuned (B starts at 0)");
            } else if (!isSelected) {
                assertArrayEquals(initial.get(i), last.get(i), 0f, params.get(i).name() + " of an unselected layer "
                        + "stays at its initial value after the search");
            }
        }
        for (int s = 4; s < 6; s++) {
            for (int i = 0; i < params.size(); i++) {
                int l = Lisa.layerOf(params.get(i));
                if (java.util.Arrays.stream(selected).noneMatch(x -> x == l)) {
                    assertArrayEquals(atStep.get(s - 1).get(i), atStep.get(s).get(i), 0f,
                            params.get(i).name() + " unchanged in fine-tuning step " + (s + 1));
                }
            }
        }
    }

    @Test
    void givenLayersAreFineTunedWithoutSearchAndStateSurvivesResume() throws IOException {
        var m = TinyTraining.model();
        var adapters = TrainableAdapterSet.lora(m.weights(), TinyTraining.LORA, 1);
        var cfg = TinyTraining.config().steps(3).evalEvery(0).build();
        var data = TinyTraining.data(cfg.seqLen());
        var hook = (Flexora) TrainingMethods.create(List.of("flexora"), Map.of("flexora_layers", "1"),
                new TrainingMethods.Context(m, adapters, data, cfg)).getFirst();
        List<float[]> initial = values(adapters);
        new Trainer(m, adapters, data, cfg, dir.resolve("fixed"), List.of(hook)).train(null);
        assertArrayEquals(new int[] {1}, hook.selectedLayers());
        List<Parameter> params = adapters.parameters();
        for (int i = 0; i < params.size(); i++) {
            if (Lisa.layerOf(params.get(i)) == 0) {
                assertArrayEquals(initial.get(i), params.get(i).value(), 0f, params.get(i).name());
            }
        }
        // interrupted at step 3 of 6: the search ends right after the resume, from the checkpointed α and Adam state
        ResumeCheck.resumesExactly(m, () -> TrainableAdapterSet.lora(m.weights(), TinyTraining.LORA, 1),
                TinyTraining.config().steps(6).evalEvery(0).build(), "flexora",
                Map.of("flexora_search_steps", "3", "flexora_val_batches", "1"), dir.resolve("resume"));
    }

    @Test
    void badSettingsNameTheKey() throws IOException {
        var m = TinyTraining.model();
        var adapters = TrainableAdapterSet.lora(m.weights(), TinyTraining.LORA, 1);
        var cfg = TinyTraining.config().steps(4).build();
        var ctx = new TrainingMethods.Context(m, adapters, TinyTraining.data(cfg.seqLen()), cfg);
        var e = assertThrows(IllegalArgumentException.class, () -> TrainingMethods.create(List.of("flexora"),
                Map.of("flexora_search_steps", "4"), ctx));
        assertTrue(e.getMessage().contains("flexora_search_steps must be in [1, 3]"), e.getMessage());
        var byDefault = (Flexora) TrainingMethods.create(List.of("flexora"), Map.of(), ctx).getFirst();
        assertEquals(1, byDefault.searchSteps(), "a third of --steps (4) by default");
        e = assertThrows(IllegalArgumentException.class, () -> TrainingMethods.create(List.of("flexora"),
                Map.of("flexora_layers", "0,7"), ctx));
        assertTrue(e.getMessage().contains("layer 7 of a 2-layer model"), e.getMessage());
        var noEval = new TrainingMethods.Context(m, adapters, dev.jlora.engine.data.Dataset.of(List.of(
                dev.jlora.engine.data.JsonlDataset.example(Map.of("text", "a cat sat on the mat again"),
                        TinyTraining.TOK, "mem")), TinyTraining.TOK, cfg.seqLen(), 0, 3), cfg);
        e = assertThrows(IllegalArgumentException.class, () -> TrainingMethods.create(List.of("flexora"),
                Map.of("flexora_search_steps", "2"), noEval));
        assertTrue(e.getMessage().contains("--eval-fraction"), e.getMessage());
    }
}
