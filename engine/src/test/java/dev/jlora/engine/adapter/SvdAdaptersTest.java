package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.linalg.Svd;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.ref.TinyLlama;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
import java.util.Set;
import dev.jlora.engine.ref.F32Matrix;
import dev.jlora.simd.testing.Approx;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The SVD-based adapters, SALT and KaSA: forward/backward against float64 references (central differences), merge,
 * round trip, and their defining properties, with the reference SVD from {@link Svd#jacobi} in float64.
 */
class SvdAdaptersTest {
    static final int T = 4;

    @Test
    void saltScalesAndShiftsTheTopSingularValuesAndAdaptsOnlyTheRest() {
        int ic = 7, oc = 5, r = 2, rl = 2, k = 5;
        F32Matrix w = ReparamVariantsTest.matrix(oc, ic, 30);
        var salt = new SaltAdapter(w, r, rl, 0);
        salt.init(new SplittableRandom(31));
        assertEquals(List.of("salt_scale", "salt_shift", "salt_X", "salt_Y"),
                salt.parameters().stream().map(Parameter::name).toList());
        for (float a : salt.scale().value()) {
            assertEquals(1f, a, "α = 1");
        }
        double[] u = AdapterCheck.doubles(salt.u()), s = AdapterCheck.doubles(salt.sigma()), vt = AdapterCheck.doubles(salt.vt());
        var rnd = new SplittableRandom(32);
        VariantsTest.randomize(salt.scale(), rnd, 0.5, 1.5);
        VariantsTest.randomize(salt.shift(), rnd, -0.2, 0.2);
        VariantsTest.randomize(salt.loraX(), rnd, -1, 1);
        VariantsTest.randomize(salt.loraY(), rnd, -1, 1);
        AdapterCheck.gradients(salt, VariantRefs.salt(u, s, vt, ic, oc, k, r, rl), T, 33);
        AdapterCheck.mergeMatchesForward(salt, w, T, 34);
        AdapterCheck.stateRoundTrip(salt, new SaltAdapter(w, r, rl, 0), T, 35);

        // Defining property 1: with X·Y = 0, W + ΔW = U·diag(ReLU(α ⊙ σ_top + β), σ_rest)·Vᵀ: its singular values
        // are exactly those (float64 Jacobi on the fp32 merge: 1e-5 relative).
        java.util.Arrays.fill(salt.loraX().value(), 0f);
        salt.shift().value()[1] = -10f;                      // ReLU clips this one to 0
        float[] merged = w.w().clone();
        salt.mergeInto(merged);
        double[] want = new double[k];
        for (int j = 0; j < k; j++) {
            want[j] = j < r ? Math.max(0, salt.scale().value()[j] * s[j] + salt.shift().value()[j]) : s[j];
        }
        double[] got = Svd.jacobi(AdapterCheck.doubles(merged), oc, ic).s();
        java.util.Arrays.sort(want);
        java.util.Arrays.sort(got);
        Approx.assertClose(want, ReparamVariantsTest.toFloats(got), 1e-5, 1e-5, () -> "singular values of W + ΔW");
        // Defining property 2: the low-rank part lives in the remaining subspace: with α = 1, β = 0 and X·Y ≠ 0,
        // U_topᵀ·ΔW = 0 and ΔW·V_top = 0 (fp32: 1e-5 abs).
        java.util.Arrays.fill(salt.scale().value(), 1f);
        java.util.Arrays.fill(salt.shift().value(), 0f);
        VariantsTest.randomize(salt.loraX(), rnd, -1, 1);
        double[] dw = ReparamVariantsTest.delta(salt);
        double moved = 0;
        for (int j = 0; j < r; j++) {
            for (int i = 0; i < ic; i++) {
                double left = 0;
                for (int o = 0; o < oc; o++) {
                    left += u[o * k + j] * dw[o * ic + i];
                }
                assertEquals(0, left, 1e-5, "U_topᵀ·ΔW");
            }
            for (int o = 0; o < oc; o++) {
                double right = 0;
                for (int i = 0; i < ic; i++) {
                    right += dw[o * ic + i] * vt[j * ic + i];
                }
                assertEquals(0, right, 1e-5, "ΔW·V_top");
            }
        }
        for (double v : dw) {
            moved = Math.max(moved, Math.abs(v));
        }
        assertTrue(moved > 1e-2, "the low-rank part changes W: " + moved);
        var e = assertThrows(IllegalArgumentException.class, () -> new SaltAdapter(w, 2, 4, 0));
        assertTrue(e.getMessage().contains("r_lora"), e.getMessage());
    }

    @Test
    void kasaRemovesTheSmallestSingularComponentsAndSavesADeltaOnTheOriginal() {
        int ic = 8, oc = 6, r = 2;
        F32Matrix w = ReparamVariantsTest.matrix(oc, ic, 40);
        var created = KasaAdapter.truncate(w, r, 4f, 0, new SplittableRandom(41));
        var kasa = (KasaAdapter) created.adapter();
        assertEquals(List.of("lora_A", "lora_B", "lora_diag"), kasa.parameters().stream().map(Parameter::name).toList());
        assertFalse(kasa.onOriginal());
        assertEquals("truncated", kasa.config().get("kasa_base"));
        // Defining property: W_world keeps the top k − r singular triplets and drops the r smallest (float64 Jacobi
        // of W and of the fp32 residual: 1e-5 relative to σ_max).
        double[] sw = Svd.jacobi(AdapterCheck.doubles(w.w()), oc, ic).s();
        double[] sres = Svd.jacobi(AdapterCheck.doubles(created.residual()), oc, ic).s();
        for (int j = 0; j < 6; j++) {
            double want = j < 6 - r ? sw[j] : 0;
            assertEquals(want, sres[j], 1e-5 * sw[0], "σ_" + j + " of W_world");
        }
        float[] removed = kasa.removedSingularValues();
        assertEquals(sw[4], removed[0], 1e-5 * sw[0], "removed: the r smallest");
        assertEquals(sw[5], removed[1], 1e-5 * sw[0]);
        for (double v : ReparamVariantsTest.delta(kasa)) {
            assertEquals(0.0, v, 0.0, "B = 0: ΔW = 0 on W_world at step 0");
        }
        var rnd = new SplittableRandom(42);
        VariantsTest.randomize(kasa.loraB(), rnd, -1, 1);
        AdapterCheck.gradients(kasa, VariantRefs.diagonalLowRank(ic, oc, r, 4.0 / r, "lora_diag"), T, 43);
        AdapterCheck.mergeMatchesForward(kasa, new F32Matrix(oc, ic, created.residual()), T, 44);

        // On the original weights: W + ΔW_original = W_world + ΔW (what the saved file reproduces).
        KasaAdapter orig = kasa.onOriginalWeights();
        assertEquals("original", orig.config().get("kasa_base"));
        assertEquals(List.of("kasa_removed_U", "kasa_removed_S", "kasa_removed_Vt"), List.copyOf(orig.buffers().keySet()));
        float[] viaWorld = created.residual().clone(), viaOriginal = w.w().clone();
        kasa.mergeInto(viaWorld);
        orig.mergeInto(viaOriginal);
        Approx.assertClose(AdapterCheck.doubles(viaWorld), viaOriginal, 1e-5, 1e-5, () -> "W_world + ΔW = W + ΔW_orig");
        AdapterCheck.gradients(orig, VariantRefs.kasaOnOriginal(ic, oc, r, 4.0 / r), T, 45);
        AdapterCheck.mergeMatchesForward(orig, w, T, 46);
        AdapterCheck.stateRoundTrip(orig, new KasaAdapter(ic, oc, r, 4f, 0, true), T, 47);
        var e = assertThrows(IllegalArgumentException.class, () -> new KasaAdapter(ic, oc, 6, 4f, 0, false));
        assertTrue(e.getMessage().contains("must be < 6"), e.getMessage());
    }

    /**
     * KaSA on a Q8_0 base (the QLoRA setting): the truncated base is stored again as Q8_0 by the Requantizer, and
     * differs from the float64 W_world = W − U_s·Σ_s·V_sᵀ only by that one re-quantization: within 1.25× the error
     * of quantizing the fp32 W directly (the bound AdapterInitTest uses for PiSSA's residual).
     */
    @Test
    void kasaTruncatedBaseIsRequantizedToTheBaseType() {
        QuantType type = QuantType.Q8_0;
        var cfg = TinyLlama.config(64, 128, 1, 4, 2, 32, false, false);
        LlamaWeights w32 = TinyLlama.weights(cfg, 50);
        var layer = w32.layers().get(0);
        double direct = 0;
        for (Target t : Target.values()) {
            F32Matrix m = (F32Matrix) TrainableAdapterSet.baseWeight(layer, t);
            direct = Math.max(direct, AdapterInitTest.directError(type, m));
            layer = AdaptedModel.withWeight(layer, t, type.quantize(m.w(), m.rows(), m.cols()));
        }
        var wq = new LlamaWeights(w32.tokenEmbedding(), List.of(layer), w32.finalNorm(), w32.output());
        var adapted = AdapterMethods.create("kasa", "kaiming", java.util.Map.of("rank", "4"), wq, Set.of(Target.Q, Target.DOWN),
                51, Requantizer.DEFAULT);
        assertEquals(2, adapted.residuals().size());
        for (var r : adapted.residuals()) {
            assertEquals(type, r.type(), "truncated base stays " + type);
            QuantMatrix stored = TrainableAdapterSet.baseWeight(adapted.weights().layers().get(0), r.target());
            QuantMatrix original = TrainableAdapterSet.baseWeight(wq.layers().get(0), r.target());
            var kasa = (KasaAdapter) adapted.adapters().get(0, r.target());
            float[] world = new float[original.rows() * original.cols()];
            for (int o = 0; o < original.rows(); o++) {
                original.dequantizeRow(o, world, o * original.cols());
            }
            kasa.onOriginalWeights().mergeInto(world);           // B = 0: W − U_s·Σ_s·V_sᵀ
            double err = 0, norm = 0;
            float[] row = new float[original.cols()];
            for (int o = 0; o < original.rows(); o++) {
                stored.dequantizeRow(o, row, 0);
                for (int i = 0; i < row.length; i++) {
                    double d = row[i] - world[o * row.length + i];
                    err += d * d;
                    norm += (double) world[o * row.length + i] * world[o * row.length + i];
                }
            }
            double rel = Math.sqrt(err / norm);
            assertTrue(rel > 0 && rel <= 1.25 * direct, r.target() + ": " + rel + " vs direct " + direct);
        }
    }
}
