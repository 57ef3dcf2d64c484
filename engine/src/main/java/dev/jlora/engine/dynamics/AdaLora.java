package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.HyperParams;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.RankMaskedAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.train.TrainingHook;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AdaLoRA (Zhang, Chen, Bukharin, Karampatziakis, He, Cheng, Chen and Zhao 2023, "AdaLoRA: Adaptive Budget Allocation
 * for Parameter-Efficient Fine-Tuning", ICLR 2023): each adapted W gets ΔW = P·Λ·Q ({@link RankMaskedAdapter} with
 * e = Λ, initialised as PEFT does: Λ = 0, P, Q ~ N(0, 0.02²)), trained with
 * <ul>
 * <li>the orthogonal regulariser γ·R(P, Q), R = ‖PᵀP − I‖²_F + ‖QQᵀ − I‖²_F (§3.1, Eq. (4); γ =
 *     {@code orth_reg_weight}), added in {@link #afterBackward}: the paper's squared norm, averaged over the modules
 *     as the authors' code and PEFT average theirs (they use the unsquared norm), so that γ's meaning does not depend
 *     on how many modules are adapted;</li>
 * <li>importance per triplet (§3.2–3.3): the smoothed sensitivity × uncertainty s(w) of Eq. (8)–(11)
 *     ({@link ImportanceScores}, β₁, β₂) of every element, and S_k = s(λ_k) + mean_i s(P_ik) + mean_j s(Q_kj)
 *     (Eq. (12));</li>
 * <li>the cubic budget schedule (§3.4, Eq. (14)) with PEFT's {@code AdaLoraConfig} names: b(t) = init budget for
 *     t ≤ tinit, target budget for t > T − tfinal, else target + (init − target)·(1 − (t − tinit)/(T − tfinal −
 *     tinit))³ (truncated to an integer, as PEFT), where init = Σ init_r and target = target_r × modules;</li>
 * <li>every deltaT steps after tinit, the triplets outside the top b(t) are masked (Eq. (7)). At step T − tfinal the
 *     pattern is fixed and re-applied every later step; the importance EMAs are reset then, as PEFT's
 *     {@code update_and_allocate}.</li>
 * </ul>
 * Ordering as PEFT's: scores and masks are updated after the optimizer step ({@link #afterStep}), from the gradients of
 * that step and the updated values. Masking uses the adapter's mask (a masked triplet contributes nothing and gets
 * no gradient) and also zeroes its λ as PEFT's {@code masked_fill_}; exactly the k lowest-scored triplets are masked
 * (ties by position; PEFT's threshold ≤ kth value may mask more on ties). After the last step the current pattern is
 * applied once more, so the saved λ and the saved {@code rank_mask} (the final rank pattern) agree.
 */
final class AdaLora implements TrainingHook {
    static final String NAME = "adalora";
    private final RankModules modules;
    private final int targetR, tinit, tfinal, deltaT, totalSteps, initBudget, targetBudget;
    private final double orthRegWeight;
    private final ImportanceScores scores;
    private final float[] budget = new float[1];

    AdaLora(TrainableAdapterSet adapters, HyperParams p, int totalSteps) {
        this.modules = new RankModules(adapters, NAME);
        int initR = modules.all().getFirst().adapter().maxRank();
        this.targetR = p.integer("target_r", 8);
        this.tinit = p.integer("tinit", 0);
        this.tfinal = p.integer("tfinal", 0);
        this.deltaT = p.integer("deltaT", 1);
        this.orthRegWeight = p.real("orth_reg_weight", 0.5f);
        this.totalSteps = totalSteps;
        if (targetR < 1 || targetR > initR) {
            throw new IllegalArgumentException("adalora: target_r must be in [1, init_r=" + initR + "], got " + targetR);
        }
        if (tinit < 0 || tfinal < 0 || tinit + tfinal >= totalSteps) {
            throw new IllegalArgumentException("adalora: need tinit ≥ 0, tfinal ≥ 0 and tinit + tfinal < steps ("
                    + totalSteps + "), got tinit=" + tinit + " tfinal=" + tfinal);
        }
        if (deltaT < 1) {
            throw new IllegalArgumentException("adalora: deltaT must be ≥ 1, got " + deltaT);
        }
        if (!(orthRegWeight > 0)) {
            throw new IllegalArgumentException("adalora: orth_reg_weight must be > 0 (as PEFT), got " + orthRegWeight);
        }
        this.scores = new ImportanceScores("adalora", p.real("beta1", 0.85f), p.real("beta2", 0.85f));
        int init = 0;
        for (var m : modules.all()) {
            init += m.adapter().maxRank();
        }
        this.initBudget = init;
        this.targetBudget = targetR * modules.size();
        budget[0] = initBudget;
    }

    @Override
    public String name() {
        return NAME;
    }

    /** b(t) of PEFT's {@code budget_schedule}, and whether step t masks. */
    record Budget(int budget, boolean mask) {}

    static Budget schedule(int step, int totalSteps, int tinit, int tfinal, int deltaT, int initBudget, int targetBudget) {
        if (step <= tinit) {
            return new Budget(initBudget, false);
        }
        if (step > totalSteps - tfinal) {
            return new Budget(targetBudget, true);
        }
        double c = 1 - (double) (step - tinit) / (totalSteps - tfinal - tinit);
        return new Budget((int) ((initBudget - targetBudget) * c * c * c + targetBudget), step % deltaT == 0);
    }

    @Override
    public double afterBackward(int step) {
        return modules.orthogonalRegularizer(orthRegWeight, false);
    }

    @Override
    public void afterStep(int step) {
        int fixAt = totalSteps - tfinal;
        if (step < fixAt) {
            for (var m : modules.all()) {
                for (Parameter p : m.adapter().parameters()) {
                    scores.update(m.name() + "." + p.name(), ImportanceScores.sensitivity(p.value(), p.grad()));
                }
            }
            Budget b = schedule(step, totalSteps, tinit, tfinal, deltaT, initBudget, targetBudget);
            if (b.mask()) {
                maskToBudget(b.budget());
            }
        } else if (step == fixAt) {
            maskToBudget(targetBudget);
            scores.reset();
        } else {
            applyPattern();
        }
        if (step == totalSteps - 1) {
            applyPattern();
        }
    }

    /** Keeps the {@code budget} highest-scored triplets over all modules, masks the rest and zeroes their λ. */
    private void maskToBudget(int keep) {
        int total = initBudget;
        double[] all = new double[total];
        int at = 0;
        for (var m : modules.all()) {
            RankMaskedAdapter ad = m.adapter();
            int r = ad.maxRank(), IC = ad.inFeatures(), OC = ad.outFeatures();
            float[] sE = scores.score(m.name() + ".lora_E", r);
            float[] sA = scores.score(m.name() + ".lora_A", r * IC);
            float[] sB = scores.score(m.name() + ".lora_B", OC * r);
            for (int k = 0; k < r; k++) {
                double q = 0, pp = 0;
                for (int i = 0; i < IC; i++) {
                    q += sA[k * IC + i];
                }
                for (int o = 0; o < OC; o++) {
                    pp += sB[o * r + k];
                }
                all[at++] = sE[k] + pp / OC + q / IC;
            }
        }
        boolean[] drop = ImportanceScores.lowest(all, total - keep);
        at = 0;
        for (var m : modules.all()) {
            RankMaskedAdapter ad = m.adapter();
            for (int k = 0; k < ad.maxRank(); k++) {
                ad.mask()[k] = drop[at++] ? 0f : 1f;
            }
        }
        budget[0] = keep;
        applyPattern();
    }

    /** λ_k = 0 wherever the pattern masks k (PEFT's {@code mask_using_rank_pattern}). */
    private void applyPattern() {
        for (var m : modules.all()) {
            RankMaskedAdapter ad = m.adapter();
            for (int k = 0; k < ad.maxRank(); k++) {
                if (ad.mask()[k] == 0) {
                    ad.loraE().value()[k] = 0f;
                }
            }
        }
    }

    @Override
    public Map<String, Object> metrics() {
        var m = new LinkedHashMap<String, Object>(modules.rankMetrics(RankMaskedAdapter::activeRank));
        m.put("rank_budget", (long) budget[0]);
        return m;
    }

    @Override
    public Map<String, float[]> state() {
        var m = new LinkedHashMap<String, float[]>(scores.state());
        m.put("budget", budget);
        return m;
    }

    @Override
    public void load(Map<String, float[]> state, Map<String, String> meta) {
        scores.load(state);
        float[] b = state.get("budget");
        if (b == null || b.length != 1) {
            throw new IllegalArgumentException("adalora: checkpoint has no 'budget' entry");
        }
        budget[0] = b[0];
    }
}
