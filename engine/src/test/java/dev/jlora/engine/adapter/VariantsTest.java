package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.ref.F32Matrix;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** LoRA variants: forward, backward (float64 finite differences), merge and state round trip on tiny shapes. */
class VariantsTest {
    static final int IC = 7, OC = 5, R = 3, T = 4;

    static F32Matrix base(long seed) {
        return new F32Matrix(OC, IC, AdapterCheck.floats(new SplittableRandom(seed), OC * IC, 1));
    }

    static void randomize(Parameter p, SplittableRandom rnd, double lo, double hi) {
        for (int i = 0; i < p.size(); i++) {
            p.value()[i] = (float) (lo + rnd.nextDouble() * (hi - lo));
        }
    }

    @Test
    void rsLoraScalesByAlphaOverSqrtRank() {
        var cfg = new LoraConfig(4, 8, 0, true, Set.of(Target.Q));
        assertEquals(4f, cfg.scale(), 0f, "α/√r = 8/2");
        var lora = LoraAdapter.create(IC, OC, cfg, new SplittableRandom(1));
        assertEquals(4f, lora.scale(), 0f);
        assertEquals(2f, new LoraConfig(4, 8, 0, false, Set.of(Target.Q)).scale(), 0f, "plain LoRA: α/r");
        var rnd = new SplittableRandom(2);
        randomize(lora.loraB(), rnd, -1, 1);
        AdapterCheck.gradients(lora, VariantRefs.lora(IC, OC, 4, 8 / Math.sqrt(4)), T, 3);
        AdapterCheck.mergeMatchesForward(lora, base(4), T, 5);
    }

    @Test
    void doraBackwardMatchesFiniteDifferencesWithTheNormDetached() {
        F32Matrix w = base(10);
        var dora = DoraAdapter.create(w, new LoraConfig(R, 6, 0, false, Set.of(Target.Q)), RandomInit.KAIMING,
                new SplittableRandom(11));
        var rnd = new SplittableRandom(12);
        randomize(dora.loraB(), rnd, -0.5, 0.5);
        randomize(dora.magnitude(), rnd, 0.5, 2);
        double[] wd = AdapterCheck.doubles(w.w());
        double s = dora.scale();
        double[] n = VariantRefs.doraNorms(wd, AdapterCheck.doubles(dora.loraA().value()),
                AdapterCheck.doubles(dora.loraB().value()), IC, OC, R, s);
        AdapterCheck.gradients(dora, VariantRefs.dora(wd, IC, OC, R, s, n), T, 13);
        AdapterCheck.mergeMatchesForward(dora, w, T, 14);
    }

    @Test
    void doraStartsAtTheBaseWeightWithMagnitudeItsRowNorms() {
        F32Matrix w = base(20);
        var dora = DoraAdapter.create(w, new LoraConfig(R, 6, 0, false, Set.of(Target.Q)), RandomInit.KAIMING,
                new SplittableRandom(21));
        for (int o = 0; o < OC; o++) {
            double ss = 0;
            for (int i = 0; i < IC; i++) {
                ss += (double) w.w()[o * IC + i] * w.w()[o * IC + i];
            }
            assertEquals(Math.sqrt(ss), dora.magnitude().value()[o], 1e-6, "m[" + o + "] = ‖W[" + o + ",:]‖");
        }
        float[] x = AdapterCheck.floats(new SplittableRandom(22), T * IC, 1), y = new float[T * OC];
        dora.forward(x, T, y);
        for (float v : y) {
            assertEquals(0f, v, 1e-6f, "Δ(x) = 0 at step 0");
        }
        // A residual init must go through DoraAdapter.onResidual (the base changes); create() says so.
        var e = assertThrows(IllegalArgumentException.class, () -> DoraAdapter.create(w,
                new LoraConfig(R, 6, 0, false, Set.of(Target.Q)), new PissaInit(-1), new SplittableRandom(1)));
        assertTrue(e.getMessage().contains("onResidual"), e.getMessage());
    }

    @Test
    void doraStateRoundTrip() {
        F32Matrix w = base(30);
        var cfg = new LoraConfig(R, 6, 0.1f, true, Set.of(Target.Q));
        var dora = DoraAdapter.create(w, cfg, RandomInit.KAIMING, new SplittableRandom(31));
        randomize(dora.loraB(), new SplittableRandom(32), -1, 1);
        AdapterCheck.stateRoundTrip(dora, DoraAdapter.create(w, cfg, RandomInit.GAUSSIAN, new SplittableRandom(33)), T, 34);
    }

    static VeraAdapter vera(long seed) {
        var proj = VeraAdapter.Projections.generate(R, IC + 3, OC + 2, seed);
        return new VeraAdapter(IC, OC, proj, 0.1f, 0);
    }

    static double[] veraA(VeraAdapter.Projections p) {
        double[] a = new double[R * IC];
        for (int j = 0; j < R; j++) {
            for (int i = 0; i < IC; i++) {
                a[j * IC + i] = p.a()[j * p.maxIn() + i];
            }
        }
        return a;
    }

    @Test
    void veraTrainsOnlyItsScalingVectors() {
        var proj = VeraAdapter.Projections.generate(R, IC + 3, OC + 2, 40);
        float[] a0 = proj.a().clone(), b0 = proj.b().clone();
        var vera = new VeraAdapter(IC, OC, proj, 0.1f, 0);
        assertEquals(List.of("vera_lambda_d", "vera_lambda_b"), vera.parameters().stream().map(Parameter::name).toList());
        assertTrue(vera.buffers().isEmpty(), "projections are regenerated from projection_prng_key");
        for (float d : vera.lambdaD().value()) {
            assertEquals(0.1f, d, "d_initial");
        }
        for (float b : vera.lambdaB().value()) {
            assertEquals(0f, b, "b starts at 0: ΔW = 0");
        }
        var rnd = new SplittableRandom(41);
        randomize(vera.lambdaB(), rnd, -1, 1);
        randomize(vera.lambdaD(), rnd, -1, 1);
        double[] bd = new double[OC * R];
        for (int i = 0; i < bd.length; i++) {
            bd[i] = proj.b()[i];
        }
        AdapterCheck.gradients(vera, VariantRefs.vera(veraA(proj), bd, IC, OC, R), T, 42);
        assertArrayEquals(a0, proj.a(), "frozen A untouched by training");
        assertArrayEquals(b0, proj.b(), "frozen B untouched by training");
        AdapterCheck.mergeMatchesForward(vera, base(43), T, 44);
        // Same seed, same projections: what a loaded adapter regenerates.
        assertArrayEquals(proj.a(), VeraAdapter.Projections.generate(R, IC + 3, OC + 2, 40).a());
        AdapterCheck.stateRoundTrip(vera, vera(40), T, 45);
    }

    @Test
    void nolaTrainsCoefficientsOfFrozenBases() {
        var nola = new NolaAdapter(IC, OC, R, 4, 3, 6f, 0, 50, 2, Target.UP);
        nola.initCoefficients(new SplittableRandom(51));
        for (float b : nola.betaCoefficients().value()) {
            assertEquals(0f, b, "β = 0: ΔW = 0 at step 0");
        }
        assertEquals(List.of("nola_alpha", "nola_beta"), nola.parameters().stream().map(Parameter::name).toList());
        randomize(nola.betaCoefficients(), new SplittableRandom(52), -1, 1);
        // The reference gets the bases by regenerating them exactly as the adapter documents (seeded uniform draws).
        var rnd = new SplittableRandom(NolaAdapter.adapterSeed(50, 2, Target.UP));
        double[] basesA = new double[4 * R * IC], basesB = new double[3 * OC * R];
        for (int i = 0; i < basesA.length; i++) {
            basesA[i] = (float) ((rnd.nextDouble() * 2 - 1) / Math.sqrt(IC));
        }
        for (int i = 0; i < basesB.length; i++) {
            basesB[i] = (float) ((rnd.nextDouble() * 2 - 1) / Math.sqrt(R));
        }
        AdapterCheck.gradients(nola, VariantRefs.nola(basesA, basesB, 4, 3, IC, OC, R, 6.0 / R), T, 53);
        AdapterCheck.mergeMatchesForward(nola, base(54), T, 55);
        AdapterCheck.stateRoundTrip(nola, new NolaAdapter(IC, OC, R, 4, 3, 6f, 0, 50, 2, Target.UP), T, 56);
    }

    @Test
    void lolduStartsAtTheOriginalWeightAndTrainsDiagonalAndScale() {
        F32Matrix w = base(60);
        var ld = LoLduAdapter.decompose(w, R, 0);
        assertEquals(List.of("loldu_diag", "loldu_scale"), ld.parameters().stream().map(Parameter::name).toList());
        assertEquals(1f, ld.scaleParameter().value()[0]);
        // ΔW = 0 at step 0; the principal part P·L_r·D_r·U_r has the first r columns of W (LDU's leading block is
        // exact there: W[:, :r] = Pᵀ·L·D·U[:, :r] uses only the first r rows of U).
        float[] merged = w.w().clone();
        ld.mergeInto(merged);
        Approx(w.w(), merged, "ΔW = 0 at step 0");
        float[] principal = ld.principalPart();
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < R; i++) {
                assertEquals(w.w()[o * IC + i], principal[o * IC + i], 1e-5, "P·L_r·D_r·U_r column " + i + " row " + o);
            }
        }
        var rnd = new SplittableRandom(61);
        randomize(ld.diagonal(), rnd, -1, 1);
        randomize(ld.scaleParameter(), rnd, 0.5, 1.5);
        AdapterCheck.gradients(ld, VariantRefs.loldu(IC, OC, R), T, 62);
        AdapterCheck.mergeMatchesForward(ld, w, T, 63);
        AdapterCheck.stateRoundTrip(ld, new LoLduAdapter(IC, OC, R, 0), T, 64);
    }

    @Test
    void boneSharesOneBlockAcrossInputGroups() {
        int ic = 9;                                       // three groups of r = 3
        var bone = new BoneAdapter(ic, OC, R);
        assertEquals(List.of("bone_block"), bone.parameters().stream().map(Parameter::name).toList());
        randomize(bone.block(), new SplittableRandom(80), -1, 1);
        AdapterCheck.gradients(bone, VariantRefs.bone(ic, OC, R), T, 81);
        AdapterCheck.mergeMatchesForward(bone, new F32Matrix(OC, ic, AdapterCheck.floats(new SplittableRandom(82), OC * ic, 1)), T, 83);
        AdapterCheck.stateRoundTrip(bone, new BoneAdapter(ic, OC, R), T, 84);
        var e = assertThrows(IllegalArgumentException.class, () -> new BoneAdapter(7, OC, 3));
        assertTrue(e.getMessage().contains("divisible by r"), e.getMessage());
    }

    @Test
    void moraSquareMatrixBetweenSharingCompressionAndRepetition() {
        int ic = 11, oc = 13, r = 1;                      // r̂ = ⌊√24 + ½⌋ = 5: padding 4 and a cut repetition
        var mora = new MoraAdapter(ic, oc, r, 0);
        assertEquals(5, mora.squareSize());
        for (float v : mora.matrix().value()) {
            assertEquals(0f, v, "M starts at 0");
        }
        randomize(mora.matrix(), new SplittableRandom(90), -1, 1);
        AdapterCheck.gradients(mora, VariantRefs.mora(ic, oc, 5), T, 91);
        AdapterCheck.mergeMatchesForward(mora, new F32Matrix(oc, ic, AdapterCheck.floats(new SplittableRandom(92), oc * ic, 1)), T, 93);
        AdapterCheck.stateRoundTrip(mora, new MoraAdapter(ic, oc, r, 0), T, 94);
    }

    @Test
    void randLoraTrainsTheDiagonalsOfSharedRandomBases() {
        int ic = 7, oc = 5, r = 2;                        // N = ⌈5/2⌉ = 3 terms
        var bases = RandLoraAdapter.Bases.generate(r, ic + 2, oc + 3, 100);
        var rl = new RandLoraAdapter(ic, oc, bases, 4f, 0);
        assertEquals(3, rl.terms());
        assertEquals(List.of("randlora_lambda", "randlora_gamma"), rl.parameters().stream().map(Parameter::name).toList());
        float[] x = AdapterCheck.floats(new SplittableRandom(101), T * ic, 1), y = new float[T * oc];
        rl.forward(x, T, y);
        for (float v : y) {
            assertEquals(0f, v, "λ = 0: ΔW = 0 at step 0");
        }
        randomize(rl.lambda(), new SplittableRandom(102), -1, 1);
        randomize(rl.gamma(), new SplittableRandom(103), -1, 1);
        // The layer's slices of the shared bases, as the class documents them.
        double[] a = new double[3 * r * ic], b = new double[3 * oc * r];
        for (int k = 0; k < 3; k++) {
            for (int j = 0; j < r; j++) {
                for (int i = 0; i < ic; i++) {
                    a[k * r * ic + j * ic + i] = bases.a()[(k * r + j) * bases.maxIn() + i];
                }
            }
            for (int e = 0; e < oc * r; e++) {
                b[k * oc * r + e] = bases.b()[k * bases.maxOut() * r + e];
            }
        }
        AdapterCheck.gradients(rl, VariantRefs.randLora(a, b, 3, ic, oc, r, 4.0 / r), T, 104);
        AdapterCheck.mergeMatchesForward(rl, new F32Matrix(oc, ic, AdapterCheck.floats(new SplittableRandom(105), oc * ic, 1)), T, 106);
        AdapterCheck.stateRoundTrip(rl, new RandLoraAdapter(ic, oc, RandLoraAdapter.Bases.generate(r, ic + 2, oc + 3, 100), 4f, 0), T, 107);
    }

    static void Approx(float[] want, float[] got, String what) {
        dev.jlora.simd.testing.Approx.assertClose(AdapterCheck.doubles(want), got, 1e-6, 1e-5, () -> what);
    }

    @Test
    void dropoutMasksMatchLoraConventionsAndAreDeterministic() {
        var proj = VeraAdapter.Projections.generate(R, IC, OC, 70);
        var vera = new VeraAdapter(IC, OC, proj, 0.1f, 0.4f);
        randomize(vera.lambdaB(), new SplittableRandom(71), -1, 1);
        float[] x = AdapterCheck.floats(new SplittableRandom(72), T * IC, 1);
        float[] y1 = new float[T * OC], y2 = new float[T * OC], y0 = new float[T * OC];
        vera.forwardTrain(x, T, y1, 99);
        vera.forwardTrain(x, T, y2, 99);
        assertArrayEquals(y1, y2, "same seed, same mask (checkpointing recomputes forward)");
        // The dropped forward equals the plain forward on the masked, rescaled input.
        var drop = InputDropout.apply(x, T * IC, 0.4f, 99);
        vera.forward(drop.xd(), T, y0);
        assertArrayEquals(y0, y1);
    }
}
