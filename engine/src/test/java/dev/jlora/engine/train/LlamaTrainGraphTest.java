package dev.jlora.engine.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.ref.LlamaRef;
import dev.jlora.engine.ref.TinyLlama;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class LlamaTrainGraphTest {
    static final int B = 2, T = 5;

    record Setup(LlamaConfig cfg, LlamaWeights w, TrainableAdapterSet ad, int[] in, int[] tgt) {}

    static Setup setup(boolean interleaved, boolean bias, long seed) {
        // C=8, hidden 12, 2 layers, 2 query heads of size 4 sharing 1 kv head (GQA), vocab 11
        return setup(TinyLlama.config(8, 12, 2, 2, 1, 11, interleaved, bias), seed);
    }

    static Setup setup(LlamaConfig cfg, long seed) {
        LlamaWeights w = TinyLlama.weights(cfg, seed);
        var ad = TrainableAdapterSet.lora(w, new LoraConfig(2, 4f, 0f, false, EnumSet.allOf(Target.class)), seed + 1);
        var rnd = new SplittableRandom(seed + 2);
        for (Parameter p : ad.parameters()) {
            if (p.name().endsWith("lora_B")) {   // B = 0 at init would make every dA zero: randomise it
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
        tgt[1] = -100;   // ignored positions
        tgt[7] = -1;
        return new Setup(cfg, w, ad, in, tgt);
    }

    static LlamaRef reference(Setup s) {
        var m = new HashMap<Integer, double[][]>();
        for (int l = 0; l < s.cfg().nLayers(); l++) {
            for (Target t : Target.values()) {
                var a = (LoraAdapter) s.ad().get(l, t);
                m.put(LlamaRef.key(l, t), new double[][] {toDouble(a.loraA().value()), toDouble(a.loraB().value())});
            }
        }
        return new LlamaRef(s.cfg(), s.w(), m, 2.0);
    }

    @ParameterizedTest(name = "interleaved={0} bias={1} checkpointing={2}")
    @CsvSource({"true,false,false", "false,false,true", "true,true,true", "false,true,false"})
    void loraGradientsMatchFloat64FiniteDifferences(boolean interleaved, boolean bias, boolean checkpointing) {
        assertLoraGradientsMatchFiniteDifferences(setup(interleaved, bias, 42), checkpointing);
    }

    /**
     * YaRN in the training graph: the scaled frequencies and the attention factor on cos/sin go through the rope
     * backward too (LlamaRef applies the same scaling in float64; its frequencies are RopeTest's).
     */
    @Test
    void yarnScaledRopeGradientsMatchFloat64FiniteDifferences() {
        LlamaConfig plain = TinyLlama.config(8, 12, 2, 2, 1, 11, true, false);
        LlamaConfig yarn = new LlamaConfig(plain.architecture(), plain.dim(), plain.hiddenDim(), plain.nLayers(),
                plain.nHeads(), plain.nKvHeads(), plain.headDim(), plain.vocabSize(), plain.contextLength(),
                plain.rmsEps(), plain.ropeTheta(), LlamaConfig.RopeScaling.yarn(4f, 16, 32f, 1f, 1.3f),
                plain.ropeInterleaved(), plain.tiedEmbeddings(), plain.attentionBias());
        assertLoraGradientsMatchFiniteDifferences(setup(yarn, 42), false);
    }

    private static void assertLoraGradientsMatchFiniteDifferences(Setup s, boolean checkpointing) {
        var graph = new LlamaTrainGraph(s.cfg(), s.w(), s.ad(), B, T, checkpointing);
        var loss = graph.forwardBackward(s.in(), s.tgt(), 0, 1f);
        LlamaRef ref = reference(s);
        double refLoss = ref.loss(s.in(), s.tgt(), B, T);
        // float32 forward of a 2-layer model: loss agrees with float64 to ~1e-6 relative
        assertEquals(refLoss, loss.loss(), 2e-5, "loss vs float64 reference");
        assertEquals(B * T - 2, loss.tokens());

        double eps = 1e-5, maxErr = 0, maxGrad = 0;
        int checked = 0;
        for (int l = 0; l < s.cfg().nLayers(); l++) {
            for (Target t : Target.values()) {
                var a = (LoraAdapter) s.ad().get(l, t);
                double[][] ab = ref.lora().get(LlamaRef.key(l, t));
                for (int which = 0; which < 2; which++) {
                    double[] v = ab[which];
                    float[] grad = which == 0 ? a.loraA().grad() : a.loraB().grad();
                    for (int i = 0; i < v.length; i++) {
                        double keep = v[i];
                        v[i] = keep + eps;
                        double up = ref.loss(s.in(), s.tgt(), B, T);
                        v[i] = keep - eps;
                        double down = ref.loss(s.in(), s.tgt(), B, T);
                        v[i] = keep;
                        double fd = (up - down) / (2 * eps);   // truncation O(eps²) ≈ 1e-10, rounding ≈ 1e-11
                        // float32 backward vs float64 finite differences (observed ≤ 1.1e-6): 1e-5 absolute + 1e-4 relative
                        String where = "layer " + l + " " + t + (which == 0 ? " A[" : " B[") + i + "]";
                        assertEquals(fd, grad[i], 1e-5 + 1e-4 * Math.abs(fd), where);
                        maxErr = Math.max(maxErr, Math.abs(fd - grad[i]));
                        maxGrad = Math.max(maxGrad, Math.abs(fd));
                        checked++;
                    }
                }
            }
        }
        assertTrue(maxGrad > 1e-3, "gradients are not trivially zero (max |g| = " + maxGrad + ")");
        System.out.printf("checked %d LoRA gradients: max |float − fd| = %.2e, max |g| = %.2e%n", checked, maxErr, maxGrad);
    }

    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"Q4_0", "Q8_0", "Q4_K", "NF4"})
    void gradientsThroughQuantizedFrozenWeightsMatchFiniteDifferences(String type) {
        // C=256 so that K-quant rows (256 per block) fit; one layer keeps the float64 reference quick. B·T = 18: the
        // frozen weights' forward and input gradient take the decoded-tile kernels (FusedMatrixTest holds the packed
        // GEMM paths of longer batches to a float64 product).
        LlamaConfig cfg = TinyLlama.config(256, 256, 1, 4, 2, 13, true, false);
        var w = TinyLlama.quantized(TinyLlama.weights(cfg, 5), dev.jlora.quant.QuantType.valueOf(type));
        var ad = TrainableAdapterSet.lora(w, new LoraConfig(1, 2f, 0f, false, EnumSet.of(Target.V, Target.DOWN)), 6);
        var rnd = new SplittableRandom(8);
        for (Parameter p : ad.parameters()) {
            if (p.name().endsWith("lora_B")) {
                for (int i = 0; i < p.size(); i++) {
                    p.value()[i] = (float) ((rnd.nextDouble() * 2 - 1) * 0.5);
                }
            }
        }
        int bt = 2 * 9;
        int[] in = new int[bt], tgt = new int[bt];
        for (int i = 0; i < bt; i++) {
            in[i] = rnd.nextInt(cfg.vocabSize());
            tgt[i] = rnd.nextInt(cfg.vocabSize());
        }
        var graph = new LlamaTrainGraph(cfg, w, ad, 2, 9, false);
        double loss = graph.forwardBackward(in, tgt, 0, 1f).loss();
        var m = new HashMap<Integer, double[][]>();
        for (Target t : new Target[] {Target.V, Target.DOWN}) {
            var a = (LoraAdapter) ad.get(0, t);
            m.put(LlamaRef.key(0, t), new double[][] {toDouble(a.loraA().value()), toDouble(a.loraB().value())});
        }
        var ref = new LlamaRef(cfg, w, m, 2.0);
        // the reference multiplies by the dequantized rows: the same W the kernels use
        assertEquals(ref.loss(in, tgt, 2, 9), loss, 1e-5, "loss vs float64 reference of the dequantized model");
        double eps = 1e-5;
        for (Target t : new Target[] {Target.V, Target.DOWN}) {
            var a = (LoraAdapter) ad.get(0, t);
            double[][] ab = m.get(LlamaRef.key(0, t));
            for (int which = 0; which < 2; which++) {
                float[] grad = which == 0 ? a.loraA().grad() : a.loraB().grad();
                double[] v = ab[which];
                for (int i = 0; i < v.length; i += 17) {   // every 17th element: about 60 checks
                    double keep = v[i];
                    v[i] = keep + eps;
                    double up = ref.loss(in, tgt, 2, 9);
                    v[i] = keep - eps;
                    double down = ref.loss(in, tgt, 2, 9);
                    v[i] = keep;
                    double fd = (up - down) / (2 * eps);
                    assertEquals(fd, grad[i], 1e-5 + 1e-4 * Math.abs(fd), type + " " + t + (which == 0 ? " A[" : " B[") + i + "]");
                }
            }
        }
    }

    @Test
    void checkpointingGivesBitIdenticalLossAndGradients() {
        Map<String, float[]> grads = new HashMap<>();
        double[] losses = new double[2];
        for (int ck = 0; ck < 2; ck++) {
            Setup s = setup(true, false, 9);
            var cfg = s.cfg();
            // dropout on: recompute must redraw the same masks
            var ad = TrainableAdapterSet.lora(s.w(), new LoraConfig(3, 8f, 0.2f, false, EnumSet.allOf(Target.class)), 5);
            for (Parameter p : ad.parameters()) {
                java.util.Arrays.fill(p.value(), p.name().endsWith("lora_B") ? 0.1f : p.value()[0]);
            }
            var graph = new LlamaTrainGraph(cfg, s.w(), ad, B, T, ck == 1);
            losses[ck] = graph.forwardBackward(s.in(), s.tgt(), 1234, 0.5f).loss();
            for (Parameter p : ad.parameters()) {
                if (ck == 0) {
                    grads.put(p.name(), p.grad().clone());
                } else {
                    assertArrayEquals(grads.get(p.name()), p.grad(), p.name());
                }
            }
        }
        assertEquals(losses[0], losses[1]);
    }

    @Test
    void logitsMatchFloat64ReferenceAndEvalLossEqualsTrainLoss() {
        Setup s = setup(false, true, 3);
        var graph = new LlamaTrainGraph(s.cfg(), s.w(), s.ad(), B, T, false);
        float[] logits = graph.logits(s.in());
        LlamaRef ref = reference(s);
        for (int b = 0; b < B; b++) {
            double[][] r = ref.forward(s.in(), b, T);
            for (int t = 0; t < T; t++) {
                for (int v = 0; v < s.cfg().vocabSize(); v++) {
                    assertEquals(r[t][v], logits[(b * T + t) * s.cfg().vocabSize() + v], 1e-5, "logit b" + b + " t" + t + " v" + v);
                }
            }
        }
        double evalLoss = graph.loss(s.in(), s.tgt()).loss();
        double trainLoss = graph.forwardBackward(s.in(), s.tgt(), 0, 1f).loss();
        assertEquals(evalLoss, trainLoss, 0.0, "no dropout: eval and train forward are the same computation");
    }

    @ParameterizedTest(name = "interleaved={0} bias={1}")
    @CsvSource({"true,false", "false,true"})
    void logitsEqualTheInferenceForward(boolean interleaved, boolean bias) {
        Setup s = setup(interleaved, bias, 17);
        var graph = new LlamaTrainGraph(s.cfg(), s.w(), s.ad(), B, T, false);
        float[] logits = graph.logits(s.in());
        int V = s.cfg().vocabSize();
        for (int b = 0; b < B; b++) {
            var session = new InferenceSession(new LlamaModel(s.cfg(), s.w(), null), s.ad(), T, 3);
            float[] inf = session.forwardAllLogits(java.util.Arrays.copyOfRange(s.in(), b * T, (b + 1) * T));
            // same math, different kernels (Vector API dot products, float rope angles): 1e-5 absolute + 1e-5 relative
            for (int i = 0; i < T * V; i++) {
                assertEquals(inf[i], logits[b * T * V + i], 1e-5 + 1e-5 * Math.abs(inf[i]), "b" + b + " logit " + i);
            }
        }
    }

    @Test
    void gradientAccumulationOverHalvesEqualsTheWholeBatch() {
        // both sequences have the same number of targets, so the mean of the two halves' means is the batch mean
        Setup s = setup(true, false, 21);
        int[] tgt = s.tgt().clone();
        tgt[1] = 3;
        tgt[7] = 4;
        var whole = new LlamaTrainGraph(s.cfg(), s.w(), s.ad(), B, T, false);
        double l = whole.forwardBackward(s.in(), tgt, 0, 1f).loss();
        var want = s.ad().parameters().stream().map(p -> p.grad().clone()).toList();
        s.ad().zeroGrad();
        var half = new LlamaTrainGraph(s.cfg(), s.w(), s.ad(), 1, T, false);
        double sum = 0;
        for (int b = 0; b < B; b++) {
            sum += half.forwardBackward(java.util.Arrays.copyOfRange(s.in(), b * T, (b + 1) * T),
                    java.util.Arrays.copyOfRange(tgt, b * T, (b + 1) * T), 0, 0.5f).loss();
        }
        assertEquals(l, sum / 2, 1e-6, "mean loss");
        for (int i = 0; i < want.size(); i++) {
            float[] got = s.ad().parameters().get(i).grad();
            for (int j = 0; j < got.length; j++) {
                // same terms summed in another order: 1e-6 absolute + 1e-5 relative
                assertEquals(want.get(i)[j], got[j], 1e-6 + 1e-5 * Math.abs(want.get(i)[j]),
                        s.ad().parameters().get(i).name() + "[" + j + "]");
            }
        }
    }

    @Test
    void badTokensAreRejectedWithPosition() {
        Setup s = setup(true, false, 1);
        var graph = new LlamaTrainGraph(s.cfg(), s.w(), s.ad(), B, T, false);
        int[] in = s.in().clone();
        in[6] = 11;
        var e = assertThrows(IllegalArgumentException.class, () -> graph.loss(in, s.tgt()));
        assertTrue(e.getMessage().contains("sequence 1 position 1"), e.getMessage());
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}
