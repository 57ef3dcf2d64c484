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

class RankSelectiveLoraTest {
    @TempDir
    Path dir;

    /** 8 steps: dense for 4, then κ = 0.4 (lambda_num 2: linspace(0, 0.4, 2)) from step 4 on. */
    static final Map<String, String> ARGS = Map.of("rank", "4", "dropout", "0", "dense_fraction", "0.5",
            "max_kappa", "0.4", "lambda_num", "2");

    @Test
    void kappaFollowsTheReferenceSchedule() {
        // T = 8, dense = 4 steps, every = floor((8 − 4)/2) = 2: the counter ticks at steps 4 and 6, capped at 1.
        double[] want = {0, 0, 0, 0, 0.4, 0.4, 0.4, 0.4};
        for (int s = 0; s < 8; s++) {
            assertEquals(want[s], RankSelectiveLora.kappa(s, 8, 0.5, 0.4, 2), 1e-12, "κ at step " + s);
        }
    }

    @Test
    void afterTheDensePhaseEveryGateIsSoftThresholdedAndTheRankIsWhatSurvives() throws IOException {
        var m = TinyTraining.model();
        var cfg = TinyTraining.config().steps(8).evalEvery(0).build();
        var a = RankHookRuns.adapters(m, "codyra", ARGS);
        var modules = new RankModules(a, "codyra");
        var beforeProx = new ArrayList<float[]>();
        // Runs before the CoDyRA hook: the gates after the optimizer step, before its proximal step.
        TrainingHook probe = new TrainingHook() {
            @Override public String name() { return "probe"; }
            @Override public void afterStep(int step) {
                if (step == 7) {
                    modules.all().forEach(x -> beforeProx.add(x.adapter().loraE().value().clone()));
                }
            }
        };
        var hooks = new ArrayList<TrainingHook>(List.of(probe));
        hooks.addAll(RankHookRuns.hooks(m, a, "codyra", ARGS, cfg));
        new dev.jlora.engine.train.Trainer(m, a, TinyTraining.data(cfg.seqLen()), cfg, dir, hooks).train(null);

        long nonZero = 0;
        for (int i = 0; i < modules.size(); i++) {
            RankMaskedAdapter ad = modules.all().get(i).adapter();
            for (int k = 0; k < 4; k++) {
                float was = beforeProx.get(i)[k];
                float want = Math.abs(was) < 0.4 ? 0f : was - Math.signum(was) * 0.4f;
                assertEquals(want, ad.loraE().value()[k], 1e-7f, "gate " + k + " of module " + i);
                nonZero += ad.loraE().value()[k] != 0 ? 1 : 0;
            }
        }
        var logged = RankHookRuns.logged(dir, "total_rank");
        assertEquals(24L, ((Number) logged.getFirst()).longValue(), "dense phase: all 6 × 4 components");
        assertEquals(nonZero, ((Number) logged.getLast()).longValue(), "total_rank counts the non-zero gates");
        assertTrue(nonZero < 24, "κ = 0.4 on N(0, 1) gates prunes some: " + nonZero);
    }

    @Test
    void resumedRunPrunesTheSame() throws IOException {
        RankHookRuns.resumeContinuesExactly("codyra", ARGS, "total_rank", dir);
    }
}
