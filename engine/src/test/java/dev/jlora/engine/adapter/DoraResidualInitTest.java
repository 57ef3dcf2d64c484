package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.ref.ByteTokenizer;
import dev.jlora.engine.ref.TinyLlama;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.quant.QuantType;
import dev.jlora.simd.testing.Approx;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** DoRA with PiSSA/OLoRA: A, B from W, the base replaced by the residual, m from the stored residual + s·B·A. */
class DoraResidualInitTest {
    static final Map<String, String> PARAMS = Map.of("rank", "2", "alpha", "4");

    static float[] logits(LlamaModel m, dev.jlora.engine.model.LlamaWeights w, AdapterSet a, int[] in) {
        return new LlamaTrainGraph(m.config(), w, a, 1, in.length, false).logits(in);
    }

    @ParameterizedTest
    @ValueSource(strings = {"pissa", "olora"})
    void stepZeroIsTheOriginalModelAndTheConversionToTheOriginalBaseIsExact(String init) throws Exception {
        LlamaModel m = TinyTraining.model();
        var targets = EnumSet.of(Target.Q, Target.V, Target.DOWN);
        var adapted = AdapterMethods.create("dora", init, PARAMS, m.weights(), targets, 3, Requantizer.DEFAULT);
        assertEquals(2 * targets.size(), adapted.residuals().size());
        var d = (DoraAdapter) adapted.adapters().get(0, Target.Q);
        boolean nonzeroB = false;
        for (float v : d.loraB().value()) {
            nonzeroB |= v != 0;
        }
        assertTrue(nonzeroB, init + " puts W's principal part into B·A");
        int[] in = Arrays.copyOf(TinyTraining.data(24).train().getFirst().tokens(), 24);
        float[] want = logits(m, m.weights(), (l, t) -> null, in);
        // fp32 residual + fp32 s·B·A, m the exact norms of their sum: a few ulps per weight through 2 layers
        Approx.assertClose(want, logits(m, adapted.weights(), adapted.adapters(), in), 1e-4, 1e-4,
                () -> init + ": DoRA on the residual at step 0");
        assertTrue(adapted.maxRelativeError() < 1e-6, "fp32 residual: " + adapted.maxRelativeError());

        for (var p : adapted.adapters().parameters()) {   // "train": move every parameter
            for (int i = 0; i < p.value().length; i++) {
                p.value()[i] *= 1 + 0.05f * ((i % 5) - 2);
            }
        }
        var converted = adapted.deltaOnOriginal();
        var dc = (DoraAdapter) converted.get(0, Target.Q);
        assertEquals("4", dc.config().get("rank"), "rank 2r on the original base");
        Approx.assertClose(logits(m, adapted.weights(), adapted.adapters(), in), logits(m, m.weights(), converted, in),
                1e-4, 1e-4, () -> init + ": trained DoRA on the residual vs its rank-2r conversion on W");
    }

    @ParameterizedTest
    @ValueSource(strings = {"Q8_0"})
    void aQuantizedResidualIsStoredInItsTypeAndTheNormsAreTakenOfIt(String type) {
        var cfg = TinyLlama.config(32, 64, 1, 4, 2, ByteTokenizer.VOCAB, true, false);
        var w = TinyLlama.quantized(TinyLlama.weights(cfg, 2), QuantType.valueOf(type));
        var adapted = AdapterMethods.create("dora", "pissa", PARAMS, w, EnumSet.of(Target.Q, Target.UP), 3,
                Requantizer.DEFAULT);
        assertEquals(QuantType.valueOf(type), adapted.residuals().getFirst().type());
        // ‖W_res,q + ΔW_DoRA − W‖/‖W‖ with m from the stored residual: the re-quantization error only (~0.4 % for Q8_0)
        assertTrue(adapted.maxRelativeError() < 2e-2, "step-0 error " + adapted.maxRelativeError());
        var d = (DoraAdapter) adapted.adapters().get(0, Target.Q);
        float[] n = d.rowNorms();
        for (int o = 0; o < n.length; o++) {
            assertEquals(n[o], d.magnitude().value()[o], 0f, "m = ‖W_res + s·B·A‖ of row " + o + " at step 0");
        }
    }
}
