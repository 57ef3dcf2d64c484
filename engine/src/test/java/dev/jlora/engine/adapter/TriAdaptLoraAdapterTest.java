package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.simd.testing.Approx;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * TriAdaptLoRA's adapter: backward against float64 central differences of a reference written from the formula
 * Δ(x) = s·B·(L⊙M_L + U⊙M_U)·A·x with the block masks spelled out; and the triangular structure itself.
 */
class TriAdaptLoraAdapterTest {
    static final int IC = 6, OC = 5, R = 5, T = 4;

    /** Float64 reference; the block of each component comes from the {@code rank_block} buffer (−1: not grown). */
    static VariantRefs.Ref ref(int r) {
        return (x, T, p) -> {
            double[] a = p.get("lora_A"), b = p.get("lora_B"), l = p.get("lora_C_lower"), u = p.get("lora_C_upper");
            double[] block = p.get("rank_block");
            double s = 2.0 / (p.get("ranknum")[0] + 1e-5);      // alpha = 2 in the tests
            double[] c = new double[r * r];
            for (int j = 0; j < r; j++) {
                for (int k = 0; k < r; k++) {
                    boolean on = block[j] >= 0 && block[k] >= 0;
                    c[j * r + k] = (on && block[k] <= block[j] ? l[j * r + k] : 0)
                            + (on && block[j] <= block[k] ? u[j * r + k] : 0);
                }
            }
            int ic = a.length / r, oc = b.length / r;
            double[] y = new double[T * oc];
            for (int t = 0; t < T; t++) {
                double[] h = new double[r], g = new double[r];
                for (int k = 0; k < r; k++) {
                    for (int i = 0; i < ic; i++) {
                        h[k] += a[k * ic + i] * x[t * ic + i];
                    }
                }
                for (int j = 0; j < r; j++) {
                    for (int k = 0; k < r; k++) {
                        g[j] += c[j * r + k] * h[k];
                    }
                }
                for (int o = 0; o < oc; o++) {
                    for (int j = 0; j < r; j++) {
                        y[t * oc + o] += s * b[o * r + j] * g[j];
                    }
                }
            }
            return y;
        };
    }

    static TriAdaptLoraAdapter randomized(int initR, int[] grows, long seed) {
        var ad = new TriAdaptLoraAdapter(IC, OC, R, initR, 2f, 0f, Map.of());
        for (int g : grows) {
            ad.grow(g);
        }
        var rnd = new SplittableRandom(seed);
        for (Parameter p : ad.parameters()) {
            float[] v = p.value();
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (rnd.nextDouble() * 2 - 1);
            }
        }
        return ad;
    }

    @Test
    void gradientsMatchFiniteDifferencesWithGrownBlocksAndUngrownStorage() {
        // blocks {0,1}, {2}, {3}; component 4 not grown: its row of A, column of B and row/column of C are masked
        for (long seed = 1; seed <= 3; seed++) {
            var ad = randomized(2, new int[] {1, 1}, seed);
            assertEquals(4, ad.activeRank());
            AdapterCheck.gradients(ad, ref(R), T, seed);
            AdapterCheck.mergeMatchesForward(ad, new dev.jlora.engine.ref.F32Matrix(OC, IC, new float[OC * IC]), T, seed);
        }
        // every component grown, one block each
        AdapterCheck.gradients(randomized(1, new int[] {1, 1, 1, 1}, 7), ref(R), T, 7);
    }

    @Test
    void theTransformationMatrixIsALowerPlusAnUpperBlockTriangle() {
        // blocks {0,1}, {2,3}, {4}: L holds (j,k) with block(k) ≤ block(j), U with block(j) ≤ block(k); the two
        // overlap exactly on the diagonal blocks and together cover the active square.
        var ad = new TriAdaptLoraAdapter(IC, OC, R, 2, 2f, 0f, Map.of());
        ad.grow(2);
        ad.grow(2);
        int[] blockOf = {0, 0, 1, 1, 2};
        int lowerCount = 0, upperCount = 0;
        for (int j = 0; j < R; j++) {
            for (int k = 0; k < R; k++) {
                assertEquals(blockOf[k] <= blockOf[j], ad.inLower(j, k), "L(" + j + "," + k + ")");
                assertEquals(blockOf[j] <= blockOf[k], ad.inUpper(j, k), "U(" + j + "," + k + ")");
                assertTrue(ad.inLower(j, k) || ad.inUpper(j, k), "C covers (" + j + "," + k + ")");
                assertEquals(blockOf[j] == blockOf[k], ad.inLower(j, k) && ad.inUpper(j, k), "overlap (" + j + "," + k + ")");
                lowerCount += ad.inLower(j, k) ? 1 : 0;
                upperCount += ad.inUpper(j, k) ? 1 : 0;
            }
        }
        // the reference's C_row blocks: 2×2, 2×4, 1×5 → 4 + 8 + 5 entries; C_col the transposes
        assertEquals(17, lowerCount);
        assertEquals(17, upperCount);
        assertEquals(3, ad.blocks());
    }

    @Test
    void growingAddsABlockWhoseZeroEntriesOfCAddNothingToTheUpdate() {
        // Trained values in the active 2×2 square of C; growing by 2 components brings their A rows and B columns
        // (drawn at init) into use with C's new entries still 0, so B·C·A is unchanged and ΔW = (α/ranknum)·B·C·A
        // changes only by the scale, 2 → 4 components: it halves (the reference's loraW divides by ranknum).
        var ad = new TriAdaptLoraAdapter(IC, OC, R, 2, 2f, 0f, Map.of()).init(new SplittableRandom(3));
        float[] l = ad.parameters().get(1).value(), u = ad.parameters().get(2).value();
        for (int j = 0; j < 2; j++) {
            for (int k = 0; k < 2; k++) {
                l[j * R + k] = 0.3f * (j + 1) - 0.2f * k;
                u[j * R + k] = 0.1f * (k - j);
            }
        }
        float[] before = new float[OC * IC], after = new float[OC * IC];
        ad.mergeInto(before);
        assertEquals(2, ad.grow(2));
        ad.mergeInto(after);
        for (int i = 0; i < before.length; i++) {
            assertEquals(before[i] / 2, after[i], 1e-7 + 1e-5 * Math.abs(before[i]), "ΔW[" + i + "]");
        }
        assertEquals(1, ad.grow(3), "growth stops at the storage rank");
        var e = assertThrows(IllegalArgumentException.class, () -> new TriAdaptLoraAdapter(IC, OC, R, 6, 2f, 0f, Map.of()));
        assertTrue(e.getMessage().contains("init_r"), e.getMessage());
    }

    @Test
    void roundTripRestoresTheBlocks() {
        var ad = randomized(1, new int[] {2}, 5);
        var fresh = new TriAdaptLoraAdapter(IC, OC, R, 1, 2f, 0f, Map.of());
        AdapterCheck.stateRoundTrip(ad, fresh, T, 6);
        assertArrayEquals(ad.buffers().get("rank_block"), fresh.buffers().get("rank_block"));
        assertEquals(3, fresh.activeRank());
        // the export form (LoRA of the 3 components in use, PEFT/GGUF) has the same ΔW: 1e-6 abs + 1e-5 rel (fp32)
        float[] w1 = new float[OC * IC], w2 = new float[OC * IC];
        ad.mergeInto(w1);
        var lora = ad.toLora();
        assertEquals(3, lora.rank());
        lora.mergeInto(w2);
        Approx.assertClose(AdapterCheck.doubles(w1), w2, 1e-6, 1e-5, () -> "toLora ΔW");
        float[] y1 = new float[T * OC], y2 = new float[T * OC];
        float[] x = AdapterCheck.floats(new SplittableRandom(8), T * IC, 1);
        ad.forward(x, T, y1);
        fresh.forward(x, T, y2);
        Approx.assertClose(AdapterCheck.doubles(y1), y2, 0, 0, () -> "reloaded forward");
    }
}
