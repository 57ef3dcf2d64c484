package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.HyperParams;
import dev.jlora.engine.adapter.RankMaskedAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.train.TrainingHook;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Dynamic Rank-Selective LoRA, CoDyRA (Lu, Zhao, Xue, Yao, Moore and Gong 2024/2025, "Adaptive Rank, Reduced
 * Forgetting: Knowledge Retention in Continual Learning Vision-Language Models with Dynamic Rank-Selective LoRA",
 * arXiv:2412.01004), following the authors' {@code codyra_Linear} and training loop: ΔW = B·diag(w)·A with
 * per-component importance weights w ({@code lora_E}, initialised N(0, 1); A as LoRA, B = 0; no α/r scale) trained
 * with the task loss, and a sparsity-promoting L1 penalty applied as its proximal step after every optimizer step past
 * the dense phase: w ← sign(w)·max(|w| − κ, 0). κ grows as the reference's schedule: after {@code dense_fraction}
 * of the steps, κ steps through linspace(0, max_kappa, lambda_num), one value every (T − dense)/lambda_num steps.
 * Components whose weight reaches exactly zero are out of the update (the rank is the count of non-zero w); they can
 * come back if the gradient pushes w past κ again, as in the reference. κ depends only on the step, so no state.
 * The proximal step is the standard one (shared with SoRA); the reference applies its three masked updates in place
 * one after another, which also zeroes weights in (κ, 2κ) — we take the paper's proximal operator instead.
 * Defaults are the reference's {@code main.py}: dense_fraction 0.5, max_kappa 7e-4, lambda_num 50.
 */
final class RankSelectiveLora implements TrainingHook {
    static final String NAME = "codyra";
    private final RankModules modules;
    private final double denseFraction, maxKappa;
    private final int lambdaNum, totalSteps;
    private double kappa;

    RankSelectiveLora(TrainableAdapterSet adapters, HyperParams p, int totalSteps) {
        this.modules = new RankModules(adapters, NAME);
        this.denseFraction = p.real("dense_fraction", 0.5f);
        this.maxKappa = p.real("max_kappa", 7e-4f);
        this.lambdaNum = p.integer("lambda_num", 50);
        this.totalSteps = totalSteps;
        if (!(denseFraction >= 0 && denseFraction <= 1) || !(maxKappa >= 0) || lambdaNum < 2) {
            throw new IllegalArgumentException("codyra: need dense_fraction in [0, 1], max_kappa ≥ 0, lambda_num ≥ 2; "
                    + "got " + denseFraction + ", " + maxKappa + ", " + lambdaNum);
        }
    }

    @Override
    public String name() {
        return NAME;
    }

    /** κ at step {@code step} (the reference's threshold_id counter, recomputed from the step). */
    static double kappa(int step, int totalSteps, double denseFraction, double maxKappa, int lambdaNum) {
        double dense = denseFraction * totalSteps;
        int every = (int) Math.floor((totalSteps - dense) / lambdaNum);
        int id = 0;
        if (every > 0) {
            for (int i = 0; i <= step; i++) {
                if (i >= dense && i % every == 0) {
                    id++;
                }
            }
        }
        return maxKappa * Math.min(lambdaNum - 1, id) / (lambdaNum - 1);
    }

    @Override
    public void afterStep(int step) {
        kappa = kappa(step, totalSteps, denseFraction, maxKappa, lambdaNum);
        if (step <= denseFraction * totalSteps) {
            return;
        }
        for (var m : modules.all()) {
            SoraSparsity.softThreshold(m.adapter().loraE().value(), (float) kappa);
        }
    }

    /** Components with w ≠ 0. */
    private static int nonZero(RankMaskedAdapter ad) {
        int n = 0;
        for (float v : ad.loraE().value()) {
            n += v != 0 ? 1 : 0;
        }
        return n;
    }

    @Override
    public Map<String, Object> metrics() {
        var m = new LinkedHashMap<String, Object>(modules.rankMetrics(RankSelectiveLora::nonZero));
        m.put("codyra_kappa", kappa);
        return m;
    }
}
