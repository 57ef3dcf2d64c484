package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.linalg.Svd;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.ref.F32Matrix;
import dev.jlora.engine.ref.TinyLlama;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.simd.testing.Approx;
import dev.jlora.quant.QuantType;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The defining properties of the initialisations: what goes into A and B, and residual + adapter = W at step 0. */
class AdapterInitTest {
    static final Set<Target> ALL = EnumSet.allOf(Target.class);

    static F32Matrix randomMatrix(long seed, int OC, int IC) {
        var rnd = new SplittableRandom(seed);
        float[] w = new float[OC * IC];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return new F32Matrix(OC, IC, w);
    }

    static double[] dense(QuantMatrix m) {
        return AdapterInit.denseBase(m);
    }

    /** s·B·A [OC × IC] in float64. */
    static double[] delta(float[] b, float[] a, double s, int OC, int IC, int r) {
        double[] d = new double[OC * IC];
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < IC; i++) {
                double acc = 0;
                for (int j = 0; j < r; j++) {
                    acc += (double) b[o * r + j] * a[j * IC + i];
                }
                d[o * IC + i] = s * acc;
            }
        }
        return d;
    }

    @ParameterizedTest
    @ValueSource(strings = {"pissa", "pissa_niter_4", "olora"})
    void residualPlusAdapterIsTheOriginalWeight(String name) {
        int OC = 14, IC = 11, r = 3;
        float scale = 16f / r;
        F32Matrix w = randomMatrix(1, OC, IC);
        AdapterInit init = AdapterInit.parse(name);
        assertEquals(name, init.name());
        var f = init.init(w, r, scale, new SplittableRandom(2));
        double[] d = delta(f.b(), f.a(), scale, OC, IC, r);
        double[] want = dense(w);
        double norm = 0, err = 0;
        for (int i = 0; i < want.length; i++) {
            double e = f.residual()[i] + d[i] - want[i];
            err += e * e;
            norm += want[i] * want[i];
        }
        // One fp32 rounding of each residual element: ≲ 2⁻²⁴ relative; 1e-5 is the brief's bound.
        assertTrue(Math.sqrt(err / norm) < 1e-6, name + ": relative error " + Math.sqrt(err / norm));
    }

    @Test
    void pissaPutsThePrincipalTripletsIntoTheAdapter() {
        int OC = 12, IC = 9, r = 3;
        float scale = 2f;
        F32Matrix w = randomMatrix(3, OC, IC);
        Svd exact = Svd.jacobi(dense(w), OC, IC);
        var f = new PissaInit(-1).init(w, r, scale, new SplittableRandom(4));
        // Columns of B are U_r·√(S_r/s): mutually orthogonal with squared norms S_j / s.
        for (int j = 0; j < r; j++) {
            for (int k = 0; k < r; k++) {
                double g = 0;
                for (int o = 0; o < OC; o++) {
                    g += (double) f.b()[o * r + j] * f.b()[o * r + k];
                }
                assertEquals(j == k ? exact.s()[j] / scale : 0, g, 1e-5 * exact.s()[0], "BᵀB[" + j + "," + k + "]");
            }
        }
        // The residual holds exactly the rest of the spectrum: its top singular value is σ_{r+1} of W.
        double[] res = new double[OC * IC];
        for (int i = 0; i < res.length; i++) {
            res[i] = f.residual()[i];
        }
        Svd rest = Svd.jacobi(res, OC, IC);
        for (int j = 0; j < IC - r; j++) {
            assertEquals(exact.s()[r + j], rest.s()[j], 1e-5 * exact.s()[0], "residual σ" + j);
        }
    }

    @Test
    void oloraTakesOrthonormalQColumnsAndTriangularRRows() {
        int OC = 10, IC = 13, r = 4;
        F32Matrix w = randomMatrix(5, OC, IC);
        var f = new OloraInit().init(w, r, 1f, new SplittableRandom(6));
        for (int j = 0; j < r; j++) {
            for (int k = 0; k < r; k++) {
                double g = 0;
                for (int o = 0; o < OC; o++) {
                    g += (double) f.b()[o * r + j] * f.b()[o * r + k];
                }
                assertEquals(j == k ? 1 : 0, g, 1e-6, "BᵀB[" + j + "," + k + "]");
            }
            for (int i = 0; i < j; i++) {
                assertEquals(0f, f.a()[j * IC + i], 0f, "A is R's first rows: zero below the diagonal at " + j + "," + i);
            }
        }
        // B·A equals W in its first r columns (R's rows beyond r only touch later columns).
        double[] d = delta(f.b(), f.a(), 1, OC, IC, r);
        double[] want = dense(w);
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < r; i++) {
                assertEquals(want[o * IC + i], d[o * IC + i], 1e-5, "Q_r·R_r = W in column " + i + ", row " + o);
            }
        }
    }

    @Test
    void randomInitsKeepTheBaseAndStartAtZero() {
        F32Matrix w = randomMatrix(7, 6, 25);
        var k = RandomInit.KAIMING.init(w, 4, 2f, new SplittableRandom(8));
        var g = RandomInit.GAUSSIAN.init(w, 4, 2f, new SplittableRandom(8));
        assertEquals(null, k.residual());
        assertEquals(null, g.residual());
        for (float b : k.b()) {
            assertEquals(0f, b);
        }
        // Kaiming-uniform bound 1/√IC = 0.2; the Gaussian std is 1/r = 0.25 (sample std over 100 draws within 30%).
        double sumSq = 0;
        for (int i = 0; i < k.a().length; i++) {
            assertTrue(Math.abs(k.a()[i]) <= 0.2 + 1e-7, "kaiming A[" + i + "] = " + k.a()[i]);
            sumSq += (double) g.a()[i] * g.a()[i];
        }
        assertEquals(0.25, Math.sqrt(sumSq / g.a().length), 0.075, "gaussian std");
    }

    @Test
    void adaptedModelReplacesOnlyTheTargetedWeightsAndReportsFp32Rounding() {
        var cfg = TinyLlama.config(16, 24, 2, 4, 2, 32, false, false);
        LlamaWeights w = TinyLlama.weights(cfg, 9);
        var lora = new LoraConfig(4, 8, 0, false, EnumSet.of(Target.Q, Target.DOWN));
        var m = AdaptedModel.create(w, lora.targets(), ResidualAdapterFactory.lora(lora, AdapterInit.parse("pissa")), 10,
                F16TestMatrix.REQUANTIZER);
        assertEquals(4, m.residuals().size(), "2 layers × {q, down}");
        assertTrue(m.maxRelativeError() < 1e-6, "fp32 residual + adapter: " + m.maxRelativeError());
        for (int l = 0; l < 2; l++) {
            var before = w.layers().get(l);
            var after = m.weights().layers().get(l);
            assertNotSame(before.wq(), after.wq());
            assertNotSame(before.wDown(), after.wDown());
            assertSame(before.wk(), after.wk());
            assertSame(before.wUp(), after.wUp());
            assertSame(before.attnNorm(), after.attnNorm());
        }
        assertSame(w.tokenEmbedding(), m.weights().tokenEmbedding());

        var plain = AdaptedModel.create(w, lora.targets(), ResidualAdapterFactory.lora(lora, RandomInit.KAIMING), 10, null);
        assertSame(w, plain.weights());
        assertTrue(plain.residuals().isEmpty());
    }

    @Test
    void quantizedBaseResidualIsRequantizedToTheBaseTypeWithBoundedError() {
        var cfg = TinyLlama.config(16, 24, 1, 4, 2, 32, false, false);
        LlamaWeights w32 = TinyLlama.weights(cfg, 11);
        // The same model with F16 linear weights: the "quantized" base.
        var layers = new ArrayList<LlamaWeights.Layer>();
        for (var x : w32.layers()) {
            var y = x;
            for (Target t : Target.values()) {
                QuantMatrix m = TrainableAdapterSet.baseWeight(x, t);
                y = AdaptedModel.withWeight(y, t, F16TestMatrix.of(((F32Matrix) m).w(), m.rows(), m.cols()));
            }
            layers.add(y);
        }
        var w16 = new LlamaWeights(w32.tokenEmbedding(), layers, w32.finalNorm(), w32.output());
        var lora = new LoraConfig(3, 6, 0, false, ALL);
        for (String init : new String[] {"pissa", "olora"}) {
            var m = AdaptedModel.create(w16, ALL, ResidualAdapterFactory.lora(lora, AdapterInit.parse(init)), 12,
                    F16TestMatrix.REQUANTIZER);
            assertEquals(7, m.residuals().size());
            for (var r : m.residuals()) {
                assertEquals(QuantType.F16, r.type(), "residual stays in the base's type");
                assertEquals(QuantType.F16, TrainableAdapterSet.baseWeight(m.weights().layers().get(0), r.target()).type());
                // binary16 round-to-nearest: each element off by ≤ 2⁻¹¹ relative, so ‖error‖_F ≤ 2⁻¹¹·‖W_res‖_F
                // ≤ 2⁻¹¹·‖W‖_F (the residual drops spectrum). Nonzero: the rounding is real and reported.
                assertTrue(r.relativeError() > 0 && r.relativeError() <= 0x1p-11,
                        init + " layer " + r.layer() + " " + r.target() + ": " + r.relativeError());
            }
        }
    }

    @Test
    void adaptedModelGivesTheOriginalLogitsAtStepZero() {
        var cfg = TinyLlama.config(16, 24, 2, 4, 2, 32, false, false);
        LlamaWeights w = TinyLlama.weights(cfg, 13);
        int B = 2, T = 5;
        int[] in = new int[B * T];
        var rnd = new SplittableRandom(14);
        for (int i = 0; i < in.length; i++) {
            in[i] = rnd.nextInt(cfg.vocabSize());
        }
        float[] want = new LlamaTrainGraph(cfg, w, AdapterSet.NONE, B, T, false).logits(in);
        var lora = new LoraConfig(4, 8, 0, false, ALL);
        for (String init : new String[] {"pissa", "olora"}) {
            var m = AdaptedModel.create(w, ALL, ResidualAdapterFactory.lora(lora, AdapterInit.parse(init)), 15,
                    F16TestMatrix.REQUANTIZER);
            float[] got = new LlamaTrainGraph(cfg, m.weights(), m.adapters(), B, T, false).logits(in);
            // fp32 summation-order differences through 2 blocks; logits are O(1).
            Approx.assertClose(want, got, 1e-4, 1e-4, () -> init);
        }
    }

    @Test
    void deltaOnOriginalReproducesTheTrainedResidualModel() {
        var cfg = TinyLlama.config(16, 24, 2, 4, 2, 32, false, false);
        LlamaWeights w = TinyLlama.weights(cfg, 16);
        int B = 2, T = 5;
        int[] in = new int[B * T];
        var rnd = new SplittableRandom(17);
        for (int i = 0; i < in.length; i++) {
            in[i] = rnd.nextInt(cfg.vocabSize());
        }
        for (boolean rs : new boolean[] {false, true}) {
            var lora = new LoraConfig(3, 6, 0, rs, EnumSet.of(Target.Q, Target.O, Target.UP));
            var m = AdaptedModel.create(w, lora.targets(), ResidualAdapterFactory.lora(lora, new PissaInit(-1)), 18,
                    F16TestMatrix.REQUANTIZER);
            for (Parameter p : m.adapters().parameters()) {      // stands in for training: move every factor
                for (int i = 0; i < p.size(); i++) {
                    p.value()[i] += (float) (0.05 * (rnd.nextDouble() * 2 - 1));
                }
            }
            float[] trained = new LlamaTrainGraph(cfg, m.weights(), m.adapters(), B, T, false).logits(in);
            TrainableAdapterSet delta = m.deltaOnOriginal();
            assertEquals("6", delta.get(0, Target.Q).config().get("rank"), "rank 2r");
            float[] got = new LlamaTrainGraph(cfg, w, delta, B, T, false).logits(in);
            Approx.assertClose(trained, got, 1e-4, 1e-4, () -> "rsLoRA=" + rs);
        }
    }

    /** ‖Q(W) − W‖_F / ‖W‖_F for the fp32 weight W quantized to {@code type}. */
    static double directError(QuantType type, F32Matrix w) {
        QuantMatrix q = type.quantize(w.w(), w.rows(), w.cols());
        double[] d = dense(q);
        double err = 0, norm = 0;
        for (int i = 0; i < d.length; i++) {
            err += (d[i] - w.w()[i]) * (d[i] - w.w()[i]);
            norm += (double) w.w()[i] * w.w()[i];
        }
        return Math.sqrt(err / norm);
    }

    @ParameterizedTest
    @ValueSource(strings = {"Q8_0", "Q4_0", "NF4"})
    void pissaOnARealQuantizedBaseStaysInItsTypeWithErrorOfOneRequantization(String typeName) {
        checkPissaOnQuantizedBase(typeName);
    }

    /** K-quants need rows of 256: a 256-wide model, a few seconds. */
    @Test
    @Tag("slow")
    void pissaOnAQ4KBaseStaysInItsTypeWithErrorOfOneRequantization() {
        checkPissaOnQuantizedBase("Q4_K");
    }

    static void checkPissaOnQuantizedBase(String typeName) {
        QuantType type = QuantType.valueOf(typeName);
        int block = type.blockSize();
        var cfg = TinyLlama.config(Math.max(64, block), Math.max(128, block), 1, 4, 2, 32, false, false);
        LlamaWeights w32 = TinyLlama.weights(cfg, 19);
        var layers = new ArrayList<LlamaWeights.Layer>();
        double direct = 0;
        for (var x : w32.layers()) {
            var y = x;
            for (Target t : Target.values()) {
                F32Matrix m = (F32Matrix) TrainableAdapterSet.baseWeight(x, t);
                direct = Math.max(direct, directError(type, m));
                y = AdaptedModel.withWeight(y, t, type.quantize(m.w(), m.rows(), m.cols()));
            }
            layers.add(y);
        }
        var wq = new LlamaWeights(w32.tokenEmbedding(), layers, w32.finalNorm(), w32.output());
        var lora = new LoraConfig(8, 16, 0, false, ALL);
        var m = AdaptedModel.create(wq, ALL, ResidualAdapterFactory.lora(lora, new PissaInit(-1)), 20, Requantizer.DEFAULT);
        double worst = 0;
        for (var r : m.residuals()) {
            assertEquals(type, r.type(), "residual re-quantized to the base's type");
            assertEquals(type, TrainableAdapterSet.baseWeight(m.weights().layers().get(0), r.target()).type());
            worst = Math.max(worst, r.relativeError());
        }
        System.out.printf("PiSSA r=8 on %s: step-0 relative error %.3e (max over 7 layers); quantizing fp32 W directly: %.3e%n",
                type, worst, direct);
        // One re-quantization of a residual smaller than W: no worse than quantizing W itself, with 25% slack
        // for the residual's different block statistics. Nonzero: the rounding is real and reported.
        assertTrue(worst > 0 && worst <= 1.25 * direct, type + ": " + worst + " vs direct " + direct);
    }

    @Test
    void badNamesAndRanksGiveClearErrors() {
        var e = assertThrows(IllegalArgumentException.class, () -> AdapterInit.parse("svd"));
        assertTrue(e.getMessage().contains("expected kaiming, gaussian, pissa"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> AdapterInit.parse("pissa_niter_x"));
        assertTrue(e.getMessage().contains("pissa_niter_N"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new PissaInit(-1).init(randomMatrix(1, 3, 5), 4, 1f, new SplittableRandom(1)));
        assertTrue(e.getMessage().contains("exceeds min(OC, IC)"), e.getMessage());
        var cfg = TinyLlama.config(16, 24, 1, 4, 2, 32, false, false);
        var lora = new LoraConfig(2, 4, 0, false, EnumSet.of(Target.Q));
        e = assertThrows(IllegalArgumentException.class, () -> AdaptedModel.create(TinyLlama.weights(cfg, 1), lora.targets(),
                ResidualAdapterFactory.lora(lora, new OloraInit()), 1, null));
        assertTrue(e.getMessage().contains("Requantizer is needed"), e.getMessage());
    }
}
