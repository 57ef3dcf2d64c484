package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.HyperParams;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.adapter.TriAdaptLoraAdapter;
import dev.jlora.engine.train.TrainingHook;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * TriAdaptLoRA's rank growth (Liang, Wang &amp; Zeng 2025, "TriAdaptLoRA: Brain-Inspired Triangular Adaptive Low-Rank
 * Adaptation for Parameter-Efficient Fine-Tuning", arXiv 2501.08008), attached by {@code --method triadaptlora} to
 * its adapters ({@link TriAdaptLoraAdapter}). The paper's full text could not be read here; this follows its abstract
 * (importance from normalised Frobenius norms, rank growth governed by dynamic thresholds, linear and non-linear
 * threshold schedules) and, for the formulas, the public {@code RankAllocator} of a TriAdaptLoRA PEFT fork:
 * <ul>
 *   <li>importance of a module: its normalised Frobenius norm ‖C‖_F / n_blocks (C the transformation matrix, n_blocks
 *       the blocks grown) and the score the increase of that value since the module's previous evaluation
 *       (the reference's {@code compute_score}; a log line there says "F divided by r" while the code divides by the
 *       number of blocks — we follow the code);</li>
 *   <li>threshold: after {@code init_warmup}, every {@code incre_interval} steps while the total rank is below
 *       {@code target_r} × modules, with c = (step − warmup)/(total steps − warmup) and D = target total − current
 *       total, n = ⌊D·c⌋ ({@code rank_growth=linear}) or ⌊D^c⌋ ({@code exponential}, the reference's "non-linear":
 *       exp(c·ln D)), at least 1 and at most the number of modules; the threshold is the n-th largest score, and every
 *       module whose score reaches it gains {@code incre_rank_num} components (default target_r/2, the reference's
 *       table);</li>
 *   <li>AdaLoRA's orthogonal regulariser as the reference computes it: {@code orth_reg_weight} × mean over modules and
 *       factors of ‖A·Aᵀ − I‖_F and ‖Bᵀ·B − I‖_F (the norm, not its square) over the components in use.</li>
 * </ul>
 * Departures, said plainly: modules at their storage rank ({@code rank}) cannot grow and are left out of the
 * threshold (the reference has no maximum); the total may overshoot the target by the modules that tie at the
 * threshold, as in the reference. The reference adds a grown block's tensors to the optimizer as a new parameter
 * group; here they were allocated (and drawn) at the start, so a grown block's Adam moments start at 0 but share
 * the run's step count for bias correction, and with {@code --weight-decay} &gt; 0 AdamW's decoupled decay shrinks
 * the stored A rows and B columns of components not grown yet (jlora's default decay is 0).
 */
final class TriAdaptLora implements TrainingHook {
    static final String NAME = TriAdaptLoraAdapter.METHOD;
    private final List<TriAdaptLoraAdapter> modules = new ArrayList<>();
    private final int targetTotal, increRankNum, initWarmup, increInterval, totalSteps;
    private final boolean exponential;
    private final double orthRegWeight;
    private final float[] previousNorm;

    TriAdaptLora(TrainableAdapterSet adapters, HyperParams p, int totalSteps) {
        for (int l = 0; l < adapters.layerCount(); l++) {
            for (Target t : Target.values()) {
                TrainableAdapter a = adapters.get(l, t);
                if (a == null) {
                    continue;
                }
                if (!(a instanceof TriAdaptLoraAdapter tri)) {
                    throw new IllegalArgumentException(NAME + " needs " + NAME + " adapters (--method " + NAME
                            + "); layer " + l + " " + t.hfName() + " has " + a.method());
                }
                modules.add(tri);
            }
        }
        if (modules.isEmpty()) {
            throw new IllegalArgumentException(NAME + ": the adapter set is empty");
        }
        int maxR = modules.getFirst().maxRank();
        int targetR = p.integer("target_r", Math.max(1, maxR / 2));
        this.targetTotal = targetR * modules.size();
        this.increRankNum = p.integer("incre_rank_num", Math.max(1, targetR / 2));
        this.initWarmup = p.integer("init_warmup", 0);
        this.increInterval = p.integer("incre_interval", 1);
        this.orthRegWeight = p.real("orth_reg_weight", 0.5f);
        this.totalSteps = totalSteps;
        String growth = p.str("rank_growth", "linear").trim().toLowerCase(Locale.ROOT);
        if (!growth.equals("linear") && !growth.equals("exponential")) {
            throw new IllegalArgumentException(NAME + ": rank_growth must be linear or exponential, got '" + growth + "'");
        }
        this.exponential = growth.equals("exponential");
        if (targetR < 1 || targetR > maxR || increRankNum < 1 || increInterval < 1 || initWarmup < 0
                || !(orthRegWeight >= 0) || totalSteps <= initWarmup) {
            throw new IllegalArgumentException(NAME + ": need target_r in [1, rank=" + maxR + "], incre_rank_num ≥ 1, "
                    + "incre_interval ≥ 1, 0 ≤ init_warmup < steps, orth_reg_weight ≥ 0; got " + targetR + ", "
                    + increRankNum + ", " + increInterval + ", " + initWarmup + " (steps " + totalSteps + "), "
                    + orthRegWeight);
        }
        this.previousNorm = new float[modules.size()];
        for (int i = 0; i < previousNorm.length; i++) {
            previousNorm[i] = (float) normalizedNorm(modules.get(i));
        }
    }

    @Override
    public String name() {
        return NAME;
    }

    /** ‖C‖_F / number of blocks: the module's normalised Frobenius norm. */
    static double normalizedNorm(TriAdaptLoraAdapter ad) {
        double ss = 0;
        for (float v : ad.transform()) {
            ss += (double) v * v;
        }
        return Math.sqrt(ss) / ad.blocks();
    }

    /**
     * How many modules the threshold admits at {@code step}: ⌊D·c⌋ (linear) or ⌊D^c⌋ (exponential) with D the missing
     * total rank and c = (step − warmup)/(steps − warmup), clamped to [1, candidates].
     */
    static int admitted(boolean exponential, int missing, int step, int warmup, int steps, int candidates) {
        double c = (double) (step - warmup) / (steps - warmup);
        int n = (int) (exponential ? Math.exp(c * Math.log(missing)) : missing * c);
        return Math.min(Math.max(n, 1), candidates);
    }

    /** The n-th largest of {@code scores} over the entries where {@code eligible}: the growth threshold. */
    static double threshold(double[] scores, boolean[] eligible, int n) {
        double[] s = java.util.stream.IntStream.range(0, scores.length).filter(i -> eligible[i])
                .mapToDouble(i -> scores[i]).sorted().toArray();
        return s[s.length - n];
    }

    private int totalRank() {
        return modules.stream().mapToInt(TriAdaptLoraAdapter::activeRank).sum();
    }

    /** Scores (increase of the normalised norm since the previous evaluation) of every module, updating the record. */
    double[] evaluate() {
        double[] s = new double[modules.size()];
        for (int i = 0; i < s.length; i++) {
            double norm = normalizedNorm(modules.get(i));
            s[i] = norm - previousNorm[i];
            previousNorm[i] = (float) norm;
        }
        return s;
    }

    @Override
    public void afterStep(int step) {
        int missing = targetTotal - totalRank();
        if (missing <= 0 || step <= initWarmup || step % increInterval != 0) {
            return;
        }
        double[] scores = evaluate();
        boolean[] eligible = new boolean[scores.length];
        int candidates = 0;
        for (int i = 0; i < eligible.length; i++) {
            eligible[i] = modules.get(i).activeRank() < modules.get(i).maxRank();
            candidates += eligible[i] ? 1 : 0;
        }
        if (candidates == 0) {
            return;
        }
        double t = threshold(scores, eligible,
                admitted(exponential, missing, step, initWarmup, totalSteps, candidates));
        for (int i = 0; i < scores.length; i++) {
            if (eligible[i] && scores[i] >= t) {
                modules.get(i).grow(increRankNum);
            }
        }
    }

    /** The orthogonal regulariser; its gradient goes into A and B. */
    @Override
    public double afterBackward(int step) {
        if (orthRegWeight == 0) {
            return 0;
        }
        double w = orthRegWeight / (2.0 * modules.size());
        double total = 0;
        for (TriAdaptLoraAdapter ad : modules) {
            int k = ad.activeRank(), r = ad.maxRank();
            total += gramDistance(ad.loraA().value(), ad.loraA().grad(), k, ad.inFeatures(), r, false, w);
            total += gramDistance(ad.loraB().value(), ad.loraB().grad(), k, ad.outFeatures(), r, true, w);
        }
        return w * total;
    }

    /**
     * ‖G − I‖_F over the first k components, G = M·Mᵀ for A [r × n] (rows) or Mᵀ·M for B [n × r] (columns), and adds
     * weight·∂/∂M = weight·2·D·M / ‖D‖_F (D = G − I, symmetric) to {@code grad}; nothing when D = 0.
     */
    static double gramDistance(float[] m, float[] grad, int k, int n, int r, boolean columns, double weight) {
        double[] d = new double[k * k];
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < k; j++) {
                double s = 0;
                for (int e = 0; e < n; e++) {
                    s += (double) at(m, columns, i, e, r, n) * at(m, columns, j, e, r, n);
                }
                d[i * k + j] = s - (i == j ? 1 : 0);
            }
        }
        double ss = 0;
        for (double v : d) {
            ss += v * v;
        }
        double norm = Math.sqrt(ss);
        if (norm == 0) {
            return 0;
        }
        for (int i = 0; i < k; i++) {
            for (int e = 0; e < n; e++) {
                double s = 0;
                for (int j = 0; j < k; j++) {
                    s += d[i * k + j] * at(m, columns, j, e, r, n);
                }
                int idx = columns ? e * r + i : i * n + e;
                grad[idx] += (float) (weight * 2 * s / norm);
            }
        }
        return norm;
    }

    /** Component i's element e: A[i, e] (rows of A [r × n]) or B[e, i] (columns of B [n × r]). */
    private static float at(float[] m, boolean columns, int i, int e, int r, int n) {
        return columns ? m[e * r + i] : m[i * n + e];
    }

    @Override
    public Map<String, Object> metrics() {
        var m = new LinkedHashMap<String, Object>();
        m.put("total_rank", (long) totalRank());
        m.put("rank_pattern", modules.stream().map(a -> (long) a.activeRank()).toList());
        return m;
    }

    /** The previous normalised norms (the score is their increase): checkpointed so a resumed run scores the same. */
    @Override
    public Map<String, float[]> state() {
        return Map.of("previous_norm", previousNorm.clone());
    }

    @Override
    public void load(Map<String, float[]> state, Map<String, String> meta) {
        float[] v = state.get("previous_norm");
        if (v == null || v.length != previousNorm.length) {
            throw new IllegalArgumentException(NAME + " checkpoint state: previous_norm must hold " + previousNorm.length
                    + " values (one per module), got " + (v == null ? "none" : v.length));
        }
        System.arraycopy(v, 0, previousNorm, 0, v.length);
    }
}
