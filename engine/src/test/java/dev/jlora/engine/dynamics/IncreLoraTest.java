package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.RankMaskedAdapter;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.TrainingHook;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IncreLoraTest {
    @TempDir
    Path dir;

    /** 6 modules from rank 1 towards an average of 3 (total 18), one module and one rank per step, at most 4. */
    static final Map<String, String> ARGS = Map.of("rank", "4", "alpha", "8", "dropout", "0", "init_r", "1",
            "target_r", "3", "top_h", "1", "incre_rank_num", "1", "incre_interval", "1", "init_warmup", "0");

    @Test
    void ranksGrowOnlyInTheMostImportantModuleAndTheTotalFollowsTheSchedule() throws IOException {
        var m = TinyTraining.model();
        var cfg = TinyTraining.config().steps(8).evalEvery(0).build();
        var a = RankHookRuns.adapters(m, "increlora", ARGS);
        var hook = (IncreLora) RankHookRuns.hooks(m, a, "increlora", ARGS, cfg).getFirst();
        var modules = new RankModules(a, "increlora");
        // Runs after IncreLoRA's afterStep: records the scores it grew by and the resulting pattern.
        var scores = new ArrayList<double[]>();
        var patterns = new ArrayList<int[]>();
        TrainingHook probe = new TrainingHook() {
            @Override public String name() { return "probe"; }
            @Override public void afterStep(int step) {
                scores.add(hook.moduleScores());
                patterns.add(modules.all().stream().mapToInt(x -> Math.round(x.adapter().ranknum())).toArray());
            }
        };
        var trainer = new dev.jlora.engine.train.Trainer(m, a, TinyTraining.data(cfg.seqLen()), cfg, dir,
                List.of(hook, probe));
        trainer.train(null);

        // Schedule: 6 modules at init_r = 1; from step 1 on (step > init_warmup, every step) one module gains one rank.
        var logged = RankHookRuns.logged(dir, "total_rank");
        for (int s = 0; s < 8; s++) {
            assertEquals(6L + s, ((Number) logged.get(s)).longValue(), "total rank after step " + s);
        }
        int[] prev = {1, 1, 1, 1, 1, 1};
        for (int s = 1; s < 8; s++) {
            int[] now = patterns.get(s);
            double[] sc = scores.get(s);
            int best = -1;
            for (int i = 0; i < sc.length; i++) {
                if (prev[i] < 4 && (best < 0 || sc[i] > sc[best])) {
                    best = i;
                }
            }
            for (int i = 0; i < now.length; i++) {
                assertEquals(prev[i] + (i == best ? 1 : 0), now[i], "step " + s + " module " + i + ": only the "
                        + "highest-scored module below max_r grows (scores " + java.util.Arrays.toString(sc) + ")");
            }
            prev = now;
        }
        for (var mod : modules.all()) {
            RankMaskedAdapter ad = mod.adapter();
            int active = Math.round(ad.ranknum());
            assertTrue(active <= 4, "max_r");
            if (active < 4) {
                assertEquals(1f, ad.mask()[active], 0f, "a reserve component after the active ones");
                assertEquals(IncreLora.RESERVE_LAMBDA, ad.loraE().value()[active], 0f, "reserve λ stays at 1e-5");
            }
        }
    }

    @Test
    void moduleSensitivityIsTheUpdateTimesItsGradientSummed() {
        var m = TinyTraining.model();
        var a = RankHookRuns.adapters(m, "increlora", ARGS);
        var ad = (RankMaskedAdapter) a.adapters().getFirst();
        var rnd = new java.util.SplittableRandom(3);
        for (var p : ad.parameters()) {
            for (int i = 0; i < p.size(); i++) {
                p.value()[i] = (float) (rnd.nextDouble() - 0.5);
            }
        }
        ad.trackWeightGradient(true);
        int T = 3, IC = ad.inFeatures(), OC = ad.outFeatures();
        float[] x = new float[T * IC], dy = new float[T * OC];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rnd.nextDouble() - 0.5);
        }
        for (int i = 0; i < dy.length; i++) {
            dy[i] = (float) (rnd.nextDouble() - 0.5);
        }
        ad.backward(x, T, dy, ad.forwardTrain(x, T, new float[T * OC], 0), null);
        // float64 reference: ΔW = s·B·diag(m·e)·A, ∂L/∂ΔW = dyᵀ·x for y += x·ΔWᵀ and L = Σ dy·y
        double s = ad.scale(), sum = 0;
        int r = ad.maxRank();
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < IC; i++) {
                double w = 0, g = 0;
                for (int k = 0; k < r; k++) {
                    w += s * ad.loraB().value()[o * r + k] * ad.mask()[k] * ad.loraE().value()[k]
                            * ad.loraA().value()[k * IC + i];
                }
                for (int t = 0; t < T; t++) {
                    g += (double) dy[t * OC + o] * x[t * IC + i];
                }
                sum += Math.abs(w * g);
            }
        }
        double want = sum / Math.sqrt(OC * IC);
        // fp32 products and sums of ≤ 64 terms vs float64: 1e-5 relative
        assertEquals(want, IncreLora.moduleSensitivity(ad), 1e-5 * want, "Σ|ΔW ⊙ G| / √(OC·IC)");
    }

    @Test
    void resumedRunGrowsTheSameModules() throws IOException {
        RankHookRuns.resumeContinuesExactly("increlora", ARGS, "rank_pattern", dir);
    }
}
