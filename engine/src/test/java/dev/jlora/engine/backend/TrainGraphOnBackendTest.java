package dev.jlora.engine.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.ref.TinyLlama;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.quant.QuantType;
import dev.jlora.simd.testing.Approx;
import java.util.EnumSet;
import org.junit.jupiter.api.Test;

/** With its F32 weights on a backend, the training graph's frozen products go through it and nothing changes. */
class TrainGraphOnBackendTest {

    @Test
    void forwardBackwardRunsOnTheBackendWithTheSameLossAndGradients() {
        var cfg = TinyLlama.config(16, 24, 2, 4, 2, 40, true, false);
        LlamaWeights w = TinyLlama.quantized(TinyLlama.weights(cfg, 5), QuantType.F32);
        var counting = new CountingBackend(EnumSet.of(Op.MATMUL_ABT, Op.MATMUL_AB));
        LlamaWeights onBackend = BackendWeights.onBackend(w, counting);
        assertEquals(2 * 7 + 1, BackendWeights.countOnBackend(onBackend), "7 linear weights per layer + output");

        var lora = new LoraConfig(4, 8f, 0f, false, EnumSet.of(Target.Q, Target.V, Target.DOWN));
        int B = 2, T = 6;
        int[] in = new int[B * T], tg = new int[B * T];
        for (int i = 0; i < in.length; i++) {
            in[i] = (i * 7 + 3) % 40;
            tg[i] = (i * 11 + 1) % 40;
        }
        var adRef = TrainableAdapterSet.lora(w, lora, 9);
        var adGot = TrainableAdapterSet.lora(w, lora, 9);
        var ref = new LlamaTrainGraph(cfg, w, adRef, B, T, false).forwardBackward(in, tg, 1, 1f);
        var got = new LlamaTrainGraph(cfg, onBackend, adGot, B, T, false).forwardBackward(in, tg, 1, 1f);

        // Reference: the same graph on the quant module's F32 kernels; only summation order differs.
        Approx.assertClose(ref.loss(), got.loss(), 1e-5, 1e-5, "loss");
        for (int p = 0; p < adRef.parameters().size(); p++) {
            Parameter a = adRef.parameters().get(p), b = adGot.parameters().get(p);
            Approx.assertClose(a.grad(), b.grad(), 1e-5, 1e-4, () -> "gradient of " + a.name());
        }
        // Forward: 7 per layer + output; backward: the input gradient of every layer weight.
        assertTrue(counting.calls(Op.MATMUL_ABT) >= 2 * 7 + 1, "ABt calls: " + counting.calls);
        assertTrue(counting.calls(Op.MATMUL_AB) >= 2 * 7, "AB calls: " + counting.calls);
    }
}
