package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.HyperParams;
import dev.jlora.engine.adapter.RankMaskedAdapter;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.engine.train.TrainingHook;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * DyLoRA (Valipour, Rezagholizadeh, Kobyzev and Ghodsi 2023, "DyLoRA: Parameter-Efficient Tuning of Pre-trained
 * Models using Dynamic Search-Free Low-Rank Adaptation", EACL 2023, §3): LoRA trained for all ranks 1..r at once.
 * Each step samples b ~ U{1..r} and the step's forward/backward uses the truncated adapter
 * Δ(x) = (α/b)·B[:, :b]·A[:b]·x ({@link RankMaskedAdapter#truncate}), which orders the components by importance
 * (nested-dropout style), so after training any truncation k ≤ r is an adapter of its own ({@link #atRanks},
 * {@code jlora eval --rank}).
 *
 * <p>Checked against the authors' nested-dropout module ({@code dynamic} in their loralib, Huawei 2022): in training
 * it keeps the first {@code current_rank + 1} = b columns and multiplies A's and B's truncations each by
 * √(r/b), so that with the layer's α/r the update is (α/b)·B[:, :b]·A[:b] as here; {@code current_rank} is drawn
 * uniformly from 0..r−1, so b ~ U{1..r} as here. Its {@code frozen} flag defaults to false ({@code __init__} and
 * {@code set_rank(rank, frozen=False)}), which is this class's default: every component of the truncated rank-b
 * adapter trains. {@code frozen=true} is the module's other mode, which detaches columns 1..b−1 so that only the b-th
 * row of A and column of B learn (zeroing their gradients is what detaching them does for the optimizer).
 * b is drawn from {@code SplittableRandom(seed ⊕ step)}: the same b for every module in a step, reproducible on
 * resume without state. Outside the forward/backward of a training step (evaluation, saving) the adapters are at
 * full rank r, as the module's evaluation branch with current_rank = r − 1.
 */
public final class DyLora implements TrainingHook {
    static final String NAME = "dylora";
    private final RankModules modules;
    private final boolean frozen;
    private final long seed;
    private final int r;
    private int b;

    DyLora(TrainableAdapterSet adapters, HyperParams p, long seed) {
        this.modules = new RankModules(adapters, NAME);
        this.frozen = p.bool("frozen");
        this.seed = seed;
        this.r = modules.all().getFirst().adapter().maxRank();
        this.b = r;
    }

    @Override
    public String name() {
        return NAME;
    }

    /** The truncated rank of step {@code step}: uniform on 1..r from a stream seeded by (seed, step). */
    static int sample(long seed, int step, int r) {
        return new SplittableRandom(seed * 0x9E3779B97F4A7C15L + step).nextInt(r) + 1;
    }

    @Override
    public void beforeStep(int step, int totalSteps) {
        b = sample(seed, step, r);
    }

    @Override
    public void beforeForward(LlamaTrainGraph graph, int[] inputs, boolean training) {
        setRank(training ? b : r);
    }

    /** Frozen mode: only component b−1 keeps its gradient. Then back to full rank for everything after backward. */
    @Override
    public double afterBackward(int step) {
        if (frozen) {
            for (var m : modules.all()) {
                RankMaskedAdapter ad = m.adapter();
                int IC = ad.inFeatures(), OC = ad.outFeatures();
                float[] ga = ad.loraA().grad(), gb = ad.loraB().grad();
                for (int k = 0; k < b - 1; k++) {
                    java.util.Arrays.fill(ga, k * IC, (k + 1) * IC, 0f);
                    for (int o = 0; o < OC; o++) {
                        gb[o * r + k] = 0f;
                    }
                }
            }
        }
        setRank(r);
        return 0;
    }

    private void setRank(int k) {
        for (var m : modules.all()) {
            m.adapter().truncate(k);
        }
    }

    @Override
    public Map<String, Object> metrics() {
        return Map.of("dylora_rank", (long) b);
    }

    /**
     * Runs {@code evaluate} with every DyLoRA adapter of {@code adapters} truncated to each of {@code ranks} in turn
     * and returns the results by rank; the adapters are back at full rank afterwards.
     */
    public static <R> Map<Integer, R> atRanks(TrainableAdapterSet adapters, int[] ranks, Supplier<R> evaluate) {
        var modules = new RankModules(adapters, NAME);
        int full = modules.all().getFirst().adapter().maxRank();
        var out = new LinkedHashMap<Integer, R>();
        try {
            for (int k : ranks) {
                if (k < 1 || k > full) {
                    throw new IllegalArgumentException("dylora: rank " + k + " is outside 1.." + full
                            + " (the adapter's trained rank)");
                }
                modules.all().forEach(m -> m.adapter().truncate(k));
                out.put(k, evaluate.get());
            }
        } finally {
            modules.all().forEach(m -> m.adapter().truncate(full));
        }
        return out;
    }

    /** Whether {@code adapters} are DyLoRA adapters (so that {@link #atRanks} applies). */
    public static boolean isDyLora(TrainableAdapterSet adapters) {
        return !adapters.adapters().isEmpty() && adapters.adapters().stream().map(TrainableAdapter::method)
                .allMatch(NAME::equals);
    }
}
