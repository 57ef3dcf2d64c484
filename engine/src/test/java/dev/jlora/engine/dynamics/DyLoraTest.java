package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.RankMaskedAdapter;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.Trainer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DyLoraTest {
    @TempDir
    Path dir;

    static final Map<String, String> ARGS = Map.of("rank", "4", "alpha", "8", "dropout", "0");

    @Test
    void everyTruncatedRankEvaluatesAndRankREqualsTheFullAdapter() throws IOException {
        var m = TinyTraining.model();
        var cfg = TinyTraining.config().steps(6).evalEvery(0).build();
        var a = RankHookRuns.adapters(m, "dylora", ARGS);
        RankHookRuns.train(m, a, "dylora", ARGS, cfg, dir, List.of());
        var eval = new Trainer(m, a, TinyTraining.data(cfg.seqLen()), cfg, dir.resolve("eval"));
        double full = eval.evaluate();
        Map<Integer, Double> byRank = DyLora.atRanks(a, new int[] {1, 2, 3, 4}, eval::evaluate);
        assertEquals(List.of(1, 2, 3, 4), List.copyOf(byRank.keySet()));
        byRank.values().forEach(l -> assertTrue(Double.isFinite(l), "finite loss " + byRank));
        assertEquals(full, byRank.get(4), 0.0, "rank r is the full adapter (same masks and scale: bit-identical)");
        assertNotEquals(byRank.get(1), byRank.get(4), "truncation changes the update");
        assertEquals(full, eval.evaluate(), 0.0, "atRanks leaves the adapters at full rank");
        var e = assertThrows(IllegalArgumentException.class, () -> DyLora.atRanks(a, new int[] {5}, eval::evaluate));
        assertTrue(e.getMessage().contains("rank 5 is outside 1..4"), e.getMessage());
    }

    @Test
    void eachStepTrainsTheSampledTruncationAndResumesWithTheSameSamples() throws IOException {
        var cfg = TinyTraining.config().steps(8).build();
        RankHookRuns.resumeContinuesExactly("dylora", ARGS, "dylora_rank", dir);
        var logged = RankHookRuns.logged(dir, "dylora_rank");
        for (int s = 0; s < logged.size(); s++) {
            assertEquals((long) DyLora.sample(cfg.seed(), s, 4), ((Number) logged.get(s)).longValue(), "b at step " + s);
        }
        assertTrue(logged.stream().distinct().count() > 1, "b varies over steps: " + logged);
    }

    @Test
    void frozenModeUpdatesOnlyComponentB() throws IOException {
        var m = TinyTraining.model();
        var args = new HashMap<>(ARGS);
        args.put("frozen", "true");
        // plain SGD, no momentum: a zero gradient leaves the value exactly as it was
        var cfg = TinyTraining.config().steps(1).optimizer("sgd").momentum(0).maxGradNorm(0).warmupSteps(0)
                .evalEvery(0).build();
        var a = RankHookRuns.adapters(m, "dylora", args);
        for (Parameter p : a.parameters()) {
            for (int i = 0; i < p.size(); i++) {
                p.value()[i] = 0.01f * ((i % 7) - 3);     // B ≠ 0 so that every component has a gradient
            }
        }
        var before = a.state().entrySet().stream().collect(java.util.stream.Collectors.toMap(Map.Entry::getKey,
                e -> e.getValue().clone()));
        RankHookRuns.train(m, a, "dylora", args, cfg, dir, List.of());
        int b = DyLora.sample(cfg.seed(), 0, 4);
        for (var ad : a.adapters()) {
            var rm = (RankMaskedAdapter) ad;
            int IC = rm.inFeatures();
            String pre = a.state().entrySet().stream().filter(e -> e.getValue() == rm.loraA().value()).findFirst()
                    .orElseThrow().getKey();
            float[] was = before.get(pre);
            for (int k = 0; k < 4; k++) {
                boolean changed = false;
                for (int i = 0; i < IC; i++) {
                    changed |= was[k * IC + i] != rm.loraA().value()[k * IC + i];
                }
                assertEquals(k == b - 1, changed, pre + " row " + k + " (b = " + b + ")");
            }
        }
        assertArrayEquals(new float[] {1, 1, 1, 1}, ((RankMaskedAdapter) a.adapters().getFirst()).mask(), 0f,
                "full rank after the step");
    }
}
