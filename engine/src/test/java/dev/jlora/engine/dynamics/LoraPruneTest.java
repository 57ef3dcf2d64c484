package dev.jlora.engine.dynamics;

import static dev.jlora.simd.testing.Approx.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.LoraPruneAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.prune.GroupImportance;
import dev.jlora.engine.prune.StructuredMask;
import dev.jlora.engine.prune.StructuredMask.Kind;
import dev.jlora.engine.ref.F32Matrix;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.engine.train.Trainer;
import dev.jlora.simd.ScalarOps;
import java.io.IOException;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoraPruneTest {
    private static final Map<String, String> ARGS = Map.of("rank", "2", "alpha", "4", "dropout", "0",
            "ratio", "0.5", "prune_freq", "2", "warmup_iters", "0.1", "cooldown_iters", "0.2");

    private static float[] floats(SplittableRandom rnd, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return f;
    }

    /** C [n × m] = A [n × k] · B [k × m] in float64. */
    private static double[] mul(double[] a, double[] b, int n, int k, int m) {
        double[] c = new double[n * m];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < m; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    s += a[i * k + p] * b[p * m + j];
                }
                c[i * m + j] = s;
            }
        }
        return c;
    }

    private static double[] transpose(double[] a, int n, int m) {
        double[] t = new double[n * m];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < m; j++) {
                t[j * n + i] = a[i * m + j];
            }
        }
        return t;
    }

    private static double[] doubles(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    /**
     * The LoRA-guided criterion computed from LoRA's fp32 gradients equals, per structure, Σ|Ĝ ⊙ (W + s·B·A)| with
     * Ĝ = s·G·AᵀA + s·B·Bᵀ·G − s²·G·Aᵀ·Bᵀ·G computed in float64 from the explicit weight gradient G = dyᵀ·x of
     * the loss Σ dy ⊙ y: the relation ∂L/∂B = s·G·Aᵀ, ∂L/∂A = s·Bᵀ·G substituted into the paper's estimate
     * ∂L/∂B·A + B·∂L/∂A − ∂L/∂B·∂L/∂A. Checked for a row-grouped (v: heads of 4 rows) and a column-grouped (o)
     * layer. Tolerance 1e-6 abs + 1e-5 rel: fp32 LoRA gradients (sums of T·IC ≤ 40 O(1) terms) against float64.
     */
    @Test
    void loraGuidedCriterionIsTheWeightGradientProjectedOnLoraSubspaces() {
        var geometry = new StructuredMask(1, 2, 2, 4, 8);   // 2 KV groups × 2 query heads × head size 4
        for (Target t : List.of(Target.V, Target.O)) {
            int IC = t == Target.V ? 6 : 16, OC = t == Target.V ? 8 : 6, T = 5, r = 2;
            var rnd = new SplittableRandom(3 + t.ordinal());
            var w = new F32Matrix(OC, IC, floats(rnd, OC * IC));
            var lora = new LoraAdapter(IC, OC, r, 3f, 0f, false);   // s = 1.5
            System.arraycopy(floats(rnd, r * IC), 0, lora.loraA().value(), 0, r * IC);
            System.arraycopy(floats(rnd, OC * r), 0, lora.loraB().value(), 0, OC * r);
            float[] x = floats(rnd, T * IC), dy = floats(rnd, T * OC), y = new float[T * OC];
            var saved = lora.forwardTrain(x, T, y, 0);
            lora.backward(x, T, dy, saved, null);
            double[] got = GroupImportance.sum(geometry, t, OC, IC, LoraPrune.loraGuided(lora, w));

            double s = lora.scale();
            double[] a = doubles(lora.loraA().value()), b = doubles(lora.loraB().value()), wd = doubles(w.w());
            double[] g = mul(transpose(doubles(dy), T, OC), doubles(x), OC, T, IC);        // G = dyᵀ·x
            double[] at = transpose(a, r, IC), bt = transpose(b, OC, r);
            double[] gAtA = mul(mul(g, at, OC, IC, r), a, OC, r, IC);
            double[] bBtG = mul(b, mul(bt, g, r, OC, IC), OC, r, IC);
            double[] gAtBtG = mul(mul(mul(g, at, OC, IC, r), bt, OC, r, OC), g, OC, OC, IC);
            double[] ba = mul(b, a, OC, r, IC);
            double[] want = new double[geometry.groups(Kind.of(t))];
            for (int o = 0; o < OC; o++) {
                for (int i = 0; i < IC; i++) {
                    int e = o * IC + i;
                    double est = s * gAtA[e] + s * bBtG[e] - s * s * gAtBtG[e];
                    double score = Math.abs(est * (wd[e] + s * ba[e]));
                    want[StructuredMask.groupsRows(t) ? geometry.rowGroup(t, o) : geometry.colGroup(t, i)] += score;
                }
            }
            assertClose(want, got, 1e-6, 1e-5, () -> "criterion of " + t);
        }
    }

    /**
     * The masked layer y = m ⊙ (x·Wᵀ + s·B·A·x), run as the graph runs it (base matmul, adapter forward; base input
     * gradient then adapter backward), against float64 central differences (eps 1e-6): dA, dB and dx, whose pruned
     * rows must not leak through W. Tolerance 2e-5 abs + 5e-4 rel (fp32 sums of ≤ 40 O(1) terms). Merging zeroes
     * the pruned rows of W + ΔW and matches the unmerged forward (1e-5 abs + 1e-4 rel).
     */
    @Test
    void maskedLayerGradientsMatchFiniteDifferencesAndMergeZeroesPrunedRows() {
        int IC = 5, OC = 6, T = 3, r = 2;
        var rnd = new SplittableRandom(11);
        var w = new F32Matrix(OC, IC, floats(rnd, OC * IC));
        var lora = new LoraAdapter(IC, OC, r, 2f, 0f, false);
        System.arraycopy(floats(rnd, r * IC), 0, lora.loraA().value(), 0, r * IC);
        System.arraycopy(floats(rnd, OC * r), 0, lora.loraB().value(), 0, OC * r);
        var ad = new LoraPruneAdapter(w, lora, Map.of());
        float[] m = {1, 0, 1, 1, 0, 1};
        ad.setMask(m);
        float[] x = floats(rnd, T * IC), dy = floats(rnd, T * OC);
        float[] y = new float[T * OC], dx = new float[T * IC];
        w.matmul(x, T, y);
        var saved = ad.forwardTrain(x, T, y, 0);
        w.matmulBackwardInput(dy, T, dx);
        ad.backward(x, T, dy, saved, dx);

        double[] xd = doubles(x), a = doubles(lora.loraA().value()), b = doubles(lora.loraB().value());
        double[] wd = doubles(w.w()), dyd = doubles(dy);
        double s = lora.scale();
        java.util.function.Supplier<Double> loss = () -> {
            double[] ba = mul(b, a, OC, r, IC);
            double l = 0;
            for (int t = 0; t < T; t++) {
                for (int o = 0; o < OC; o++) {
                    double v = 0;
                    for (int i = 0; i < IC; i++) {
                        v += xd[t * IC + i] * (wd[o * IC + i] + s * ba[o * IC + i]);
                    }
                    l += dyd[t * OC + o] * m[o] * v;
                }
            }
            return l;
        };
        double[] yRef = new double[T * OC];
        for (int t = 0; t < T; t++) {
            for (int o = 0; o < OC; o++) {
                double[] ba = mul(b, a, OC, r, IC);
                double v = 0;
                for (int i = 0; i < IC; i++) {
                    v += xd[t * IC + i] * (wd[o * IC + i] + s * ba[o * IC + i]);
                }
                yRef[t * OC + o] = m[o] * v;
            }
        }
        assertClose(yRef, y, 1e-5, 1e-4, () -> "masked forward");
        for (var entry : List.of(Map.entry("dA", a), Map.entry("dB", b), Map.entry("dx", xd))) {
            double[] v = entry.getValue();
            double[] fd = new double[v.length];
            for (int i = 0; i < v.length; i++) {
                double keep = v[i];
                v[i] = keep + 1e-6;
                double up = loss.get();
                v[i] = keep - 1e-6;
                double down = loss.get();
                v[i] = keep;
                fd[i] = (up - down) / 2e-6;
            }
            float[] got = switch (entry.getKey()) {
                case "dA" -> lora.loraA().grad();
                case "dB" -> lora.loraB().grad();
                default -> dx;
            };
            assertClose(fd, got, 2e-5, 5e-4, () -> entry.getKey() + " of the masked layer");
        }

        float[] merged = w.w().clone();
        ad.mergeInto(merged);
        float[] viaMerge = new float[T * OC], unmerged = new float[T * OC];
        new F32Matrix(OC, IC, merged).matmul(x, T, viaMerge);
        w.matmul(x, T, unmerged);
        ad.forward(x, T, unmerged);
        assertClose(doubles(unmerged), viaMerge, 1e-5, 1e-4, () -> "merged vs unmerged");
        for (int i = 0; i < IC; i++) {
            assertEquals(0f, merged[IC + i], "pruned row 1 of the merged weight");
        }
    }

    private static TrainableAdapterSet allLinear(LlamaModel m, Map<String, String> args) {
        return AdapterMethods.create(LoraPrune.NAME, "kaiming", args, m.weights(), EnumSet.allOf(Target.class), 5, null)
                .adapters();
    }

    /** Makes {@code t}'s weight in {@code layer} garbage at the rows or columns of structures {@code mask} pruned. */
    private static void scramble(LlamaWeights w, TrainableAdapterSet ads, StructuredMask mask, int layer, Target t,
                                 SplittableRandom rnd) {
        var base = (F32Matrix) TrainableAdapterSet.baseWeight(w.layers().get(layer), t);
        var lora = ((LoraPruneAdapter) ads.get(layer, t)).lora();
        int OC = base.rows(), IC = base.cols(), r = lora.rank();
        boolean[] prunedRow = new boolean[OC], prunedCol = new boolean[IC];
        boolean rows = StructuredMask.groupsRows(t);
        int[] kept = mask.keptIndices(layer, t, rows ? OC : IC);
        java.util.Arrays.fill(rows ? prunedRow : prunedCol, true);
        for (int k : kept) {
            (rows ? prunedRow : prunedCol)[k] = false;
        }
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < IC; i++) {
                if (prunedRow[o] || prunedCol[i]) {
                    base.w()[o * IC + i] = (float) (5 * rnd.nextDouble());
                }
            }
            if (prunedRow[o]) {
                for (int k = 0; k < r; k++) {
                    lora.loraB().value()[o * r + k] = (float) rnd.nextDouble();
                }
            }
        }
        for (int i = 0; i < IC; i++) {
            if (prunedCol[i]) {
                for (int k = 0; k < r; k++) {
                    lora.loraA().value()[k * IC + i] = (float) rnd.nextDouble();
                }
            }
        }
    }

    /**
     * Defining property of the masks: with head group 1 and 12 channels of layer 0 and head group 0 and 5 channels of
     * layer 1 pruned (all LoRA B non-zero), garbage in every weight of a pruned structure — its rows of Wq, Wk, Wv,
     * Wgate, Wup, its columns of Wo, Wdown and the matching LoRA rows/columns — leaves the logits unchanged (scalar
     * kernels; 1e-6 covers the last-bit difference of nothing at all). Control: the same garbage in kept structures
     * moves the logits by more than 1e-3.
     */
    @Test
    void prunedStructuresHaveNoEffectOnTheOutput() {
        for (boolean control : new boolean[] {false, true}) {
            LlamaModel m = TinyTraining.model();
            var ads = allLinear(m, ARGS);
            var rnd = new SplittableRandom(9);
            for (var p : ads.parameters()) {
                System.arraycopy(floats(rnd, p.size()), 0, p.value(), 0, p.size());
            }
            var mask = StructuredMask.of(m.config());
            mask.prune(0, Kind.HEADS, 1);
            mask.prune(1, Kind.HEADS, 0);
            for (int c = 0; c < 12; c++) {
                mask.prune(0, Kind.CHANNELS, 2 * c);
            }
            for (int c = 0; c < 5; c++) {
                mask.prune(1, Kind.CHANNELS, 3 + c);
            }
            var scrambleWhere = control ? invert(mask, m) : mask;
            for (int l = 0; l < 2; l++) {
                for (Target t : Target.values()) {
                    var ad = (LoraPruneAdapter) ads.get(l, t);
                    ad.setMask(mask.rowMask(l, t, ad.outFeatures()));
                }
            }
            int[] tokens = new int[2 * 12];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = 32 + (i * 7) % 60;
            }
            var graph = new LlamaTrainGraph(m.config(), m.weights(), ads, 2, 12, false, ScalarOps.INSTANCE);
            float[] before = graph.logits(tokens);
            int[] first = java.util.Arrays.copyOf(tokens, 12);
            float[] inferBefore = new InferenceSession(m, ads, 16).forwardAllLogits(first);
            for (int l = 0; l < 2; l++) {
                for (Target t : Target.values()) {
                    scramble(m.weights(), ads, scrambleWhere, l, t, rnd);
                }
            }
            float[] after = graph.logits(tokens);
            float[] inferAfter = new InferenceSession(m, ads, 16).forwardAllLogits(first);
            double maxDiff = 0;
            for (int i = 0; i < before.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(before[i] - after[i]));
            }
            if (control) {
                assertTrue(maxDiff > 1e-3, "garbage in kept structures changes the logits, max |Δ| = " + maxDiff);
            } else {
                assertTrue(maxDiff <= 1e-6, "garbage in pruned structures changes the logits by " + maxDiff);
                // The inference path (generate, eval, serve) applies the same masks: unchanged within 1e-5 (its SIMD
                // kernels may differ in the last bits between calls), and equal to the training graph's logits
                // within 1e-4 (different kernels and summation orders).
                assertClose(inferBefore, inferAfter, 1e-5, 0, () -> "inference logits after garbage in pruned rows");
                assertClose(java.util.Arrays.copyOf(before, inferBefore.length), inferBefore, 1e-4, 1e-4,
                        () -> "inference vs training graph");
            }
        }
    }

    /** One kept structure of each kind per layer marked as "pruned" (for the control run). */
    private static StructuredMask invert(StructuredMask mask, LlamaModel m) {
        var inv = StructuredMask.of(m.config());
        for (int l = 0; l < mask.layers(); l++) {
            for (Kind k : Kind.values()) {
                inv.prune(l, k, mask.kept(l, k)[0]);
            }
        }
        return inv;
    }

    /** The reference's cubic schedule at a few points: flat in warm-up, cubic in between, flat in cool-down. */
    @Test
    void scheduleIsTheReferenceCubic() {
        assertEquals(0.0, LoraPrune.scheduledRatio(10, 100, 0.1, 0.1, 0, 0.5), 0);
        assertEquals(0.5 - 0.5 * Math.pow(1 - 40.0 / 80, 3), LoraPrune.scheduledRatio(50, 100, 0.1, 0.1, 0, 0.5), 1e-12);
        assertEquals(0.5, LoraPrune.scheduledRatio(91, 100, 0.1, 0.1, 0, 0.5), 0);
    }

    /**
     * Training with the hook: the pruned counts only grow, follow ⌊n·ratio(step)⌋ at pruning steps, and end at
     * ⌊n·0.5⌋ per prunable block (block 0 of 2: the last block is never pruned, as in the reference); the adapters'
     * masks are the hook's structures. Also: a missing target is refused by name.
     */
    @Test
    void scheduleReachesTheTargetRatio(@TempDir Path dir) throws IOException {
        LlamaModel m = TinyTraining.model();
        var cfg = TinyTraining.config().steps(10).evalEvery(0).build();
        var ads = allLinear(m, ARGS);
        var trainer = RankHookRuns.train(m, ads, LoraPrune.NAME, ARGS, cfg, dir, List.of());
        assertEquals(10, trainer.step());
        List<Object> channels = RankHookRuns.logged(dir, "pruned_channels");
        List<Object> ratios = RankHookRuns.logged(dir, "loraprune_ratio");
        double prev = 0;
        for (int i = 0; i < channels.size(); i++) {
            double c = ((Number) channels.get(i)).doubleValue();
            assertTrue(c >= prev, "pruned channels only grow: " + channels);
            assertTrue(c <= (int) (24 * ((Number) ratios.get(i)).doubleValue()), "at most ⌊n·ratio⌋: " + channels);
            prev = c;
        }
        assertEquals(12, ((Number) channels.getLast()).intValue(), "⌊24·0.5⌋ channels in the one prunable block");
        assertEquals(1, ((Number) RankHookRuns.logged(dir, "pruned_head_groups").getLast()).intValue());
        var v0 = (LoraPruneAdapter) ads.get(0, Target.V);
        var up0 = (LoraPruneAdapter) ads.get(0, Target.UP);
        int zeros = 0;
        for (float f : v0.mask()) {
            zeros += f == 0f ? 1 : 0;
        }
        assertEquals(4, zeros, "one KV head (head size 4) of v masked");
        zeros = 0;
        for (float f : up0.mask()) {
            zeros += f == 0f ? 1 : 0;
        }
        assertEquals(12, zeros, "12 channels of up masked");
        for (float f : ((LoraPruneAdapter) ads.get(1, Target.V)).mask()) {
            assertEquals(1f, f, "the last block is not pruned");
        }

        var few = AdapterMethods.create(LoraPrune.NAME, "kaiming", ARGS, m.weights(), EnumSet.of(Target.Q, Target.V), 5,
                null).adapters();
        var e = assertThrows(IllegalArgumentException.class, () -> RankHookRuns.hooks(m, few, LoraPrune.NAME, ARGS, cfg));
        assertTrue(e.getMessage().contains("all-linear"), e.getMessage());
    }

    /** Resumed from a checkpoint at step 3, the run logs the same pruning and ends with bit-identical adapters and masks. */
    @Test
    void resumeContinuesExactly(@TempDir Path dir) throws IOException {
        var m = TinyTraining.model();
        var cfg = TinyTraining.config().steps(8).evalEvery(0).checkpointEvery(3).keepCheckpoints(5)
                .bitReproducible(true).build();
        var full = allLinear(m, ARGS);
        RankHookRuns.train(m, full, LoraPrune.NAME, ARGS, cfg, dir, List.of());
        List<Object> values = RankHookRuns.logged(dir, "pruned_channels");
        var resumed = allLinear(m, ARGS);
        var trainer = new Trainer(m, resumed, TinyTraining.data(cfg.seqLen()), cfg, dir,
                RankHookRuns.hooks(m, resumed, LoraPrune.NAME, ARGS, cfg));
        trainer.resume(dir.resolve("checkpoints/checkpoint-000003.jlck"));
        trainer.train(null);
        assertEquals(values, RankHookRuns.logged(dir, "pruned_channels"));
        var want = full.state();
        resumed.state().forEach((k, v) -> assertArrayEquals(want.get(k), v, k + " after resume"));
    }
}
