package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TriAdaptLoraAdapter;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.engine.train.Trainer;
import dev.jlora.engine.train.TrainingHook;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TriAdaptLoRA's growth rule (normalised-Frobenius-norm scores, the dynamic threshold of its linear and exponential
 * schedules), its orthogonal regulariser against float64 finite differences, and training through {@link Trainer}.
 */
class TriAdaptLoraTest {
    @TempDir
    Path dir;

    /** 6 modules (q, v, down × 2 layers) from rank 1 towards an average of 3, one component per growth, at most 4. */
    static final Map<String, String> ARGS = Map.of("rank", "4", "alpha", "8", "dropout", "0", "init_r", "1",
            "target_r", "3", "incre_rank_num", "1", "incre_interval", "1", "init_warmup", "1");

    @Test
    void thresholdAdmitsModulesByTheLinearOrExponentialSchedule() {
        // missing rank D = 12, warmup 1 of 9 steps, step 5: c = 0.5 → linear ⌊12·0.5⌋ = 6, exponential ⌊12^0.5⌋ = 3
        assertEquals(6, TriAdaptLora.admitted(false, 12, 5, 1, 9, 10));
        assertEquals(3, TriAdaptLora.admitted(true, 12, 5, 1, 9, 10));
        assertEquals(4, TriAdaptLora.admitted(false, 12, 5, 1, 9, 4), "at most the candidates");
        assertEquals(1, TriAdaptLora.admitted(false, 12, 2, 1, 90, 10), "at least one");
        assertEquals(12, TriAdaptLora.admitted(true, 12, 9, 1, 9, 20), "the last step admits all that is missing");
        double[] scores = {0.1, 0.5, 0.3, 0.5, 0.9};
        boolean[] eligible = {true, true, true, true, false};
        assertEquals(0.5, TriAdaptLora.threshold(scores, eligible, 2), 0, "2nd largest eligible; a tie admits both");
        assertEquals(0.3, TriAdaptLora.threshold(scores, eligible, 3), 0);
    }

    @Test
    void importanceIsTheFrobeniusNormOfCOverItsBlocks() {
        var ad = new TriAdaptLoraAdapter(3, 2, 3, 1, 1f, 0f, Map.of());
        ad.grow(1);                                         // blocks {0}, {1}
        float[] l = ad.parameters().get(1).value(), u = ad.parameters().get(2).value();
        l[0] = 1f;           // (0,0) L
        u[0] = 2f;           // (0,0) U: the diagonal block sums both → C(0,0) = 3
        l[3] = 4f;           // (1,0) L
        u[1] = 12f;          // (0,1) U
        l[8] = 100f;         // (2,2): component 2 not grown, ignored
        // C = [[3, 12], [4, 0]]: ‖C‖ = 13, two blocks
        assertEquals(13.0 / 2, TriAdaptLora.normalizedNorm(ad), 1e-6);
    }

    @Test
    void orthogonalRegulariserGradientMatchesFiniteDifferences() {
        // value ‖M·Mᵀ − I‖_F over the first k rows of A [r × n] (or ‖MᵀM − I‖ over k columns of B [n × r]); its
        // gradient against float64 central differences (eps 1e-6), 1e-6 abs + 1e-4 rel (fp32 accumulation).
        var rnd = new SplittableRandom(4);
        int r = 4, n = 5, k = 3;
        for (boolean columns : new boolean[] {false, true}) {
            float[] m = new float[r * n];
            for (int i = 0; i < m.length; i++) {
                m[i] = (float) (rnd.nextDouble() * 2 - 1);
            }
            float[] grad = new float[m.length];
            TriAdaptLora.gramDistance(m, grad, k, n, r, columns, 0.7);
            for (int i = 0; i < m.length; i++) {
                double keep = m[i];
                double up = distance(m, i, keep + 1e-3, k, n, r, columns), down = distance(m, i, keep - 1e-3, k, n, r, columns);
                double fd = 0.7 * (up - down) / 2e-3;
                assertEquals(fd, grad[i], 1e-4 + 1e-3 * Math.abs(fd), (columns ? "B" : "A") + "[" + i + "]");
            }
        }
    }

    /** Float64 ‖G − I‖_F with element i set to v (G over the first k components). */
    private static double distance(float[] m, int at, double v, int k, int n, int r, boolean columns) {
        double[] d = new double[m.length];
        for (int i = 0; i < m.length; i++) {
            d[i] = i == at ? v : m[i];
        }
        double ss = 0;
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < k; j++) {
                double s = 0;
                for (int e = 0; e < n; e++) {
                    s += (columns ? d[e * r + i] * d[e * r + j] : d[i * n + e] * d[j * n + e]);
                }
                s -= i == j ? 1 : 0;
                ss += s * s;
            }
        }
        return Math.sqrt(ss);
    }

    @Test
    void ranksGrowWhereTheScoreReachesTheThresholdAndTheFileReloads() throws IOException {
        var m = TinyTraining.model();
        var cfg = TinyTraining.config().steps(6).evalEvery(0).build();
        var a = RankHookRuns.adapters(m, "triadaptlora", ARGS);
        var hook = (TriAdaptLora) RankHookRuns.hooks(m, a, "triadaptlora", ARGS, cfg).getFirst();
        List<TriAdaptLoraAdapter> mods = new ArrayList<>();
        for (TrainableAdapter ad : a.adapters()) {
            mods.add((TriAdaptLoraAdapter) ad);
        }
        // Before the hook's afterStep: the expected growth from the rule, recomputed from the scores
        // (normalised norm now − the hook's recorded previous one) and the schedule; after it: the ranks.
        var expected = new ArrayList<boolean[]>();
        var grown = new ArrayList<boolean[]>();
        int[][] rankBefore = new int[1][];
        TrainingHook pre = new TrainingHook() {
            @Override public String name() { return "pre"; }
            @Override public void afterStep(int step) {
                float[] prev = hook.state().get("previous_norm");
                double[] scores = new double[mods.size()];
                boolean[] eligible = new boolean[mods.size()];
                int total = 0, candidates = 0;
                for (int i = 0; i < scores.length; i++) {
                    scores[i] = TriAdaptLora.normalizedNorm(mods.get(i)) - prev[i];
                    eligible[i] = mods.get(i).activeRank() < 4;
                    candidates += eligible[i] ? 1 : 0;
                    total += mods.get(i).activeRank();
                }
                boolean[] want = new boolean[scores.length];
                if (step > 1 && total < 18 && candidates > 0) {
                    double t = TriAdaptLora.threshold(scores, eligible,
                            TriAdaptLora.admitted(false, 18 - total, step, 1, 6, candidates));
                    for (int i = 0; i < want.length; i++) {
                        want[i] = eligible[i] && scores[i] >= t;
                    }
                }
                expected.add(want);
                rankBefore[0] = mods.stream().mapToInt(TriAdaptLoraAdapter::activeRank).toArray();
            }
        };
        TrainingHook post = new TrainingHook() {
            @Override public String name() { return "post"; }
            @Override public void afterStep(int step) {
                boolean[] grew = new boolean[mods.size()];
                for (int i = 0; i < grew.length; i++) {
                    grew[i] = mods.get(i).activeRank() > rankBefore[0][i];
                }
                grown.add(grew);
            }
        };
        new Trainer(m, a, TinyTraining.data(cfg.seqLen()), cfg, dir, List.of(pre, hook, post)).train(null);
        int grew = 0;
        for (int s = 0; s < expected.size(); s++) {
            assertArrayEquals(expected.get(s), grown.get(s), "modules grown after step " + s);
            for (boolean g : grown.get(s)) {
                grew += g ? 1 : 0;
            }
        }
        assertTrue(grew > 0, "some module grew");
        var totals = RankHookRuns.logged(dir, "total_rank");
        assertEquals(6L + grew, ((Number) totals.getLast()).longValue(), "one component per growth");

        Path file = dir.resolve("adapter.jlora");
        AdapterFile.save(file, a, Map.of());
        var loaded = AdapterFile.load(file, m.weights());
        for (int i = 0; i < mods.size(); i++) {
            var l = (TriAdaptLoraAdapter) loaded.adapters().get(i);
            assertEquals(mods.get(i).activeRank(), l.activeRank(), "rank of module " + i + " survives the file");
            float[] w1 = new float[l.outFeatures() * l.inFeatures()], w2 = w1.clone();
            mods.get(i).mergeInto(w1);
            l.mergeInto(w2);
            assertArrayEquals(w1, w2, "ΔW of module " + i + " after reload");
        }
    }

    @Test
    void resumesExactly() throws IOException {
        RankHookRuns.resumeContinuesExactly("triadaptlora", ARGS, "rank_pattern", dir);
    }
}
