package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.linalg.Svd;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.ref.F32Matrix;
import dev.jlora.engine.ref.TinyLlama;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.InitBatches;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.quant.QuantType;
import dev.jlora.simd.testing.Approx;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** LoRA-GA's defining properties: its first LoRA step follows the best rank-2r approximation of the gradient; step 0 is unchanged. */
class LoraGaInitTest {

    /**
     * Theorem 3.1 of the paper on one layer with loss L = Σ g·y (so ∂L/∂W = gᵀ·x): LoRA's gradients at the LoRA-GA
     * init give a first-order change of s·B·A proportional to −(G·AᵀA + B·Bᵀ·G) = −c²·G_2r, with G_2r the best
     * rank-2r approximation of G (exact float64 Jacobi SVD).
     */
    @Test
    void theFirstStepFollowsTheBestRank2rApproximationOfTheGradient() {
        int OC = 12, IC = 10, r = 2, T = 30;
        float gamma = 16f;
        var rnd = new SplittableRandom(4);
        var base = AdapterInitTest.randomMatrix(9, OC, IC);
        float[] x = AdapterCheck.floats(rnd, T * IC, 1), dy = AdapterCheck.floats(rnd, T * OC, 1);

        float[] g = new float[OC * IC];                       // the probe's gradient: what LoRA-GA reads
        var probe = new InitProbe(IC, OC, null, g);
        probe.backward(x, T, dy, probe.forwardTrain(x, T, new float[T * OC], 0), null);
        double[] want = new double[OC * IC];
        for (int t = 0; t < T; t++) {
            for (int o = 0; o < OC; o++) {
                for (int i = 0; i < IC; i++) {
                    want[o * IC + i] += (double) dy[t * OC + o] * x[t * IC + i];
                }
            }
        }
        // fp32 sums of 30 O(1) products
        Approx.assertClose(want, g, 1e-5, 1e-5, () -> "probe gradient dyᵀ·x");

        var f = LoraGaInit.factors(g, base, r, gamma, new SplittableRandom(1));
        double c2 = Math.sqrt(OC) / gamma;                      // c² = (⁴√OC / √γ)²
        double[] a = AdapterCheck.doubles(f.a()), b = AdapterCheck.doubles(f.b());
        double[] gd = AdapterCheck.doubles(g);
        double[] update = new double[OC * IC];                 // G·AᵀA + B·Bᵀ·G in float64
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < IC; i++) {
                double acc = 0;
                for (int j = 0; j < r; j++) {
                    double ga = 0, bg = 0;
                    for (int k = 0; k < IC; k++) {
                        ga += gd[o * IC + k] * a[j * IC + k];
                    }
                    for (int k = 0; k < OC; k++) {
                        bg += b[k * r + j] * gd[k * IC + i];
                    }
                    acc += ga * a[j * IC + i] + b[o * r + j] * bg;
                }
                update[o * IC + i] = acc / c2;
            }
        }
        double[] best = Svd.jacobi(gd, OC, IC).truncate(2 * r).product();
        // A and B are fp32-rounded unit vectors times c: ~1e-7 relative error per entry
        Approx.assertClose(best, toFloats(update), 1e-4, 1e-4, () -> "(G·AᵀA + BBᵀ·G)/c² vs G_2r");

        // The same through LoRA's own backward: dB·A + B·dA = s·(G·AᵀA + BBᵀ·G).
        var lora = new LoraAdapter(IC, OC, r, 8f, 0f, false);
        System.arraycopy(f.a(), 0, lora.loraA().value(), 0, f.a().length);
        System.arraycopy(f.b(), 0, lora.loraB().value(), 0, f.b().length);
        lora.backward(x, T, dy, lora.forwardTrain(x, T, new float[T * OC], 0), null);
        double s = lora.scale();
        float[] viaLora = new float[OC * IC];
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < IC; i++) {
                double acc = 0;
                for (int j = 0; j < r; j++) {
                    acc += lora.loraB().grad()[o * r + j] * a[j * IC + i] + b[o * r + j] * lora.loraA().grad()[j * IC + i];
                }
                viaLora[o * IC + i] = (float) (acc / (s * c2));
            }
        }
        // fp32 gradients of sums over 30 tokens: 1e-4 relative to entries of size ~5
        Approx.assertClose(best, viaLora, 5e-4, 1e-3, () -> "LoRA's first-step direction vs G_2r");
    }

    static float[] toFloats(double[] d) {
        return AdapterInit.toFloats(d);
    }

    @Test
    void theModelIsUnchangedAtStepZero() throws Exception {
        LlamaModel m = TinyTraining.model();
        var ds = TinyTraining.data(24);
        var targets = EnumSet.of(Target.Q, Target.V, Target.DOWN);
        var adapted = AdapterMethods.create("lora", "lora-ga", Map.of("rank", "2", "alpha", "4", "init_batches", "2"),
                m.weights(), targets, 3, Requantizer.DEFAULT, new InitBatches(m, ds, 2, 7));
        assertEquals(2 * targets.size(), adapted.residuals().size(), "every adapted base is replaced");
        int[] inputs = Arrays.copyOf(ds.train().getFirst().tokens(), 24);
        float[] base = new LlamaTrainGraph(m.config(), m.weights(), (l, t) -> null, 1, 24, false).logits(inputs);
        float[] got = new LlamaTrainGraph(m.config(), adapted.weights(), adapted.adapters(), 1, 24, false).logits(inputs);
        // fp32 residual W − s·B·A plus the adapter's s·B·A: a few ulps per weight through 2 layers
        Approx.assertClose(base, got, 1e-4, 1e-4, () -> "logits at step 0");
        boolean moved = false;
        for (var a : adapted.adapters().adapters()) {
            for (float v : ((LoraAdapter) a).loraB().value()) {
                moved |= v != 0;
            }
        }
        assertTrue(moved, "LoRA-GA starts from nonzero B (the gradient's singular vectors)");

        var cfg32 = TinyLlama.config(32, 64, 1, 4, 2, dev.jlora.engine.ref.ByteTokenizer.VOCAB, true, false);
        var q = TinyLlama.quantized(TinyLlama.weights(cfg32, 1), QuantType.Q8_0);     // Q8_0 rows need 32 columns
        var qa = AdapterMethods.create("lora", "lora_ga", Map.of("rank", "2", "alpha", "4", "init_batches", "2"),
                q, targets, 3, Requantizer.DEFAULT, new InitBatches(new LlamaModel(cfg32, q, m.tokenizer()), ds, 2, 7));
        assertEquals(QuantType.Q8_0, qa.residuals().getFirst().type(), "the residual is stored again as Q8_0");
        // Q8_0 re-quantization of the residual: ~0.4 % relative, as for PiSSA (AdapterInitTest)
        assertTrue(qa.maxRelativeError() < 2e-2, "step-0 error after re-quantization " + qa.maxRelativeError());
    }
}
