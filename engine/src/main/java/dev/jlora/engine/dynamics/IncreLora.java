package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.HyperParams;
import dev.jlora.engine.adapter.RankMaskedAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.train.TrainingHook;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * IncreLoRA (Zhang, Li, Chen, Jiang, Wang and Qian 2023, "IncreLoRA: Incremental Parameter Allocation Method for
 * Parameter-Efficient Fine-tuning", §3), following the authors' {@code loralib/increlora.py}: every module starts with
 * {@code init_r} SVD-form components (ΔW = α/ranknum · P·diag(λ)·Q, λ = 0, P, Q ~ N(0, 0.02²)); while the total rank is
 * below target_r × modules, each module's importance is the smoothed sensitivity × uncertainty
 * ({@link ImportanceScores}) of S = Σ|ΔW ⊙ ∂L/∂ΔW| / √(OC·IC) (the reference's backward hook on the whole update), and
 * every {@code incre_interval} steps after {@code init_warmup} the {@code top_h} most important modules that are below
 * {@code max_r} gain {@code incre_rank_num} components; ranknum (the scale's divisor) grows with them.
 *
 * <p>Advance learning (§3.3): each module also holds {@code incre_rank_num} reserve components with λ fixed at 1e-5
 * (not trained) whose P and Q are trained in advance through that tiny λ; a module that grows turns its reserve into
 * active components (λ trainable from 1e-5) and opens a new reserve. When the target is reached the reserves are
 * switched off (λ = 0), as in the reference.
 *
 * <p>Storage: instead of appending parameters and optimizer groups as the reference does, every module is allocated
 * at {@code max_r} components up front ({@link RankMaskedAdapter}); components not grown yet are masked (no
 * contribution, zero gradients), so parameter shapes and the optimizer state (keyed by name and shape) never change and
 * a checkpoint restores a run at any point. {@code max_r} is the maximum rank per module (the reference has none).
 * Differences, said plainly: exactly top_h modules grow (the reference's "score ≥ k-th" may pick more on ties);
 * the orthogonal regulariser is AdaLoRA's over the components in use (the reference applies it per stored tensor);
 * the paper's restart warm-up of the learning rate after each allocation is not implemented.
 */
final class IncreLora implements TrainingHook {
    static final String NAME = "increlora";
    static final float RESERVE_LAMBDA = 1e-5f;
    private final RankModules modules;
    private final int initR, maxR, targetTotal, topH, increRankNum, initWarmup, increInterval;
    private final double orthRegWeight;
    private final ImportanceScores scores;

    IncreLora(TrainableAdapterSet adapters, HyperParams p) {
        this.modules = new RankModules(adapters, NAME);
        this.maxR = modules.all().getFirst().adapter().maxRank();
        this.initR = p.integer("init_r", 1);
        int targetR = p.integer("target_r", 4);
        this.targetTotal = targetR * modules.size();
        this.topH = p.integer("top_h", Math.max(1, modules.size() / 4));
        this.increRankNum = p.integer("incre_rank_num", Math.max(1, targetR / 2));
        this.initWarmup = p.integer("init_warmup", 0);
        this.increInterval = p.integer("incre_interval", 1);
        this.orthRegWeight = p.real("orth_reg_weight", 0.1f);
        if (initR < 1 || initR > maxR) {
            throw new IllegalArgumentException("increlora: init_r must be in [1, max_r=" + maxR + "], got " + initR);
        }
        if (targetR < initR || targetR > maxR) {
            throw new IllegalArgumentException("increlora: target_r (average rank per module) must be in [init_r="
                    + initR + ", max_r=" + maxR + "], got " + targetR);
        }
        if (topH < 1 || increRankNum < 1 || increInterval < 1 || initWarmup < 0 || orthRegWeight < 0) {
            throw new IllegalArgumentException("increlora: need top_h ≥ 1, incre_rank_num ≥ 1, incre_interval ≥ 1, "
                    + "init_warmup ≥ 0, orth_reg_weight ≥ 0; got " + topH + ", " + increRankNum + ", " + increInterval
                    + ", " + initWarmup + ", " + orthRegWeight);
        }
        this.scores = new ImportanceScores(NAME, p.real("beta1", 0.85f), p.real("beta2", 0.85f));
        for (var m : modules.all()) {
            RankMaskedAdapter ad = m.adapter();
            Arrays.fill(ad.loraE().value(), 0f);
            ad.setRanknum(initR);
            layout(ad, initR, true);
        }
        track();
    }

    @Override
    public String name() {
        return NAME;
    }

    private static int active(RankMaskedAdapter ad) {
        return Math.round(ad.ranknum());
    }

    private boolean growing() {
        return modules.totalRank(IncreLora::active) < targetTotal;
    }

    /** Masks in the {@code active} components and, while growing, the reserve after them (λ = 1e-5). */
    private void layout(RankMaskedAdapter ad, int active, boolean withReserve) {
        int reserveEnd = withReserve ? Math.min(maxR, active + increRankNum) : active;
        float[] mask = ad.mask(), e = ad.loraE().value();
        for (int k = 0; k < maxR; k++) {
            mask[k] = k < reserveEnd ? 1f : 0f;
            if (k >= active) {
                e[k] = k < reserveEnd ? RESERVE_LAMBDA : 0f;
            }
        }
    }

    /** The module score needs ∂L/∂ΔW only while the rank still grows. */
    private void track() {
        boolean on = growing();
        for (var m : modules.all()) {
            m.adapter().trackWeightGradient(on);
        }
    }

    @Override
    public void beforeStep(int step, int totalSteps) {
        for (var m : modules.all()) {
            float[] g = m.adapter().weightGradient();
            if (g != null) {
                Arrays.fill(g, 0f);
            }
        }
    }

    /** Reserve λ are not trained; the orthogonal regulariser over the components in use. */
    @Override
    public double afterBackward(int step) {
        for (var m : modules.all()) {
            RankMaskedAdapter ad = m.adapter();
            int a = active(ad);
            for (int k = a; k < maxR; k++) {
                ad.loraE().grad()[k] = 0f;
            }
        }
        return orthRegWeight > 0 ? modules.orthogonalRegularizer(orthRegWeight, true) : 0;
    }

    @Override
    public void afterStep(int step) {
        if (!growing()) {
            return;
        }
        for (var m : modules.all()) {
            scores.update(m.name(), new float[] {moduleSensitivity(m.adapter())});
        }
        if (step > initWarmup && step % increInterval == 0) {
            grow(moduleScores());
        }
    }

    /** The current module scores s = Ī·Ū, in module order. */
    double[] moduleScores() {
        double[] s = new double[modules.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = scores.score(modules.all().get(i).name(), 1)[0];
        }
        return s;
    }

    /** Σ|ΔW ⊙ G| / √(OC·IC) with G the step's accumulated ∂L/∂ΔW. */
    static float moduleSensitivity(RankMaskedAdapter ad) {
        float[] w = new float[ad.outFeatures() * ad.inFeatures()];
        ad.mergeInto(w);
        float[] g = ad.weightGradient();
        double sum = 0;
        for (int i = 0; i < w.length; i++) {
            sum += Math.abs((double) w[i] * g[i]);
        }
        return (float) (sum / Math.sqrt(w.length));
    }

    /** The k = min(top_h, remaining) most important modules below max_r gain incre_rank_num components each. */
    private void grow(double[] s) {
        double[] negated = new double[s.length];
        for (int i = 0; i < s.length; i++) {
            negated[i] = active(modules.all().get(i).adapter()) >= maxR ? Double.POSITIVE_INFINITY : -s[i];
        }
        int k = Math.min(topH, targetTotal - modules.totalRank(IncreLora::active));
        int[] order = ImportanceScores.ascending(negated);
        for (int j = 0; j < k && j < order.length; j++) {
            RankMaskedAdapter ad = modules.all().get(order[j]).adapter();
            int a = active(ad);
            if (a >= maxR) {
                break;
            }
            int grown = Math.min(maxR, a + increRankNum);
            ad.setRanknum(grown);
            layout(ad, grown, true);
        }
        if (!growing()) {
            for (var m : modules.all()) {
                layout(m.adapter(), active(m.adapter()), false);
            }
            scores.reset();
        }
        track();
    }

    @Override
    public Map<String, Object> metrics() {
        return modules.rankMetrics(IncreLora::active);
    }

    @Override
    public Map<String, float[]> state() {
        return new LinkedHashMap<>(scores.state());
    }

    @Override
    public void load(Map<String, float[]> state, Map<String, String> meta) {
        scores.load(state);
        track();
    }
}
