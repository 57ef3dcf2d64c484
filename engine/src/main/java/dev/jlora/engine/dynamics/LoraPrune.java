package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.HyperParams;
import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.LoraPruneAdapter;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.prune.GroupImportance;
import dev.jlora.engine.prune.StructuredMask;
import dev.jlora.engine.prune.StructuredMask.Kind;
import dev.jlora.engine.train.TrainingHook;
import dev.jlora.quant.QuantMatrix;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * LoRAPrune (Zhang, Chen, Shen, Yang, Ou, Yu &amp; Zhuang 2023, "LoRAPrune: Structured Pruning Meets Low-Rank
 * Parameter-Efficient Fine-Tuning", ACL Findings 2024): iterative structured pruning of head groups and FFN channels
 * during LoRA fine-tuning, guided by LoRA's weights and gradients instead of the frozen weights' gradient. The hook of
 * {@code --method loraprune} ({@link LoraPruneAdapter} holds the masks).
 *
 * <p>Criterion (the paper's LoRA-guided criterion): the weight gradient is approximated by the change one gradient
 * step would make to B·A, G ≈ ∂L/∂B·A + B·∂L/∂A − ∂L/∂B·∂L/∂A, and an element's importance is |G ⊙ (W + s·B·A)|,
 * the first-order Taylor estimate of the loss change from removing it. Relation to the true gradient: with
 * G_W = ∂L/∂W of the adapted layer, LoRA's gradients are ∂L/∂B = s·G_W·Aᵀ and ∂L/∂A = s·Bᵀ·G_W, so the estimate is
 * s·G_W·AᵀA + s·B·Bᵀ·G_W − s²·G_W·Aᵀ·Bᵀ·G_W: G_W projected onto the row space of A and the column space of B, never
 * materialised as a full gradient. A structure's importance is the sum over its elements, per module divided
 * by the module's L2 norm over structures and summed over the modules of the block (q, k, v, o for head groups; gate,
 * up, down for channels), then smoothed by a moving average Ī ← 0.9·Ī + 0.1·Î (the paper's moving average; 0.9 is the
 * reference code's factor). The absolute value, the per-module normalisation and 0.9 follow the authors' code
 * ({@code loraprune/utils.py}: {@code compute_sensitivity}, {@code update_sensitivity_dict}); the paper's full text
 * was not retrievable here (only its abstract and the authors' code), so no section or equation numbers are
 * cited: the method is followed as the authors' code implements it.
 *
 * <p>Schedule (the paper's iterative pruning; {@code schedule_sparsity_ratio} and {@code local_prune} of the reference):
 * the target sparsity rises from {@code init_ratio} to {@code ratio} by a cubic curve between the first
 * {@code warmup_iters} and the last {@code cooldown_iters} fractions of training; every {@code prune_freq} steps each
 * prunable block prunes its least important kept structures until ⌊n·sparsity⌋ of its n head groups and of its n
 * channels are pruned (per block, "local"). Pruned structures stay pruned. As the reference's {@code freeze}, the first
 * ⌊0.1·L⌋ blocks and the last block are never pruned. Departure: the reference prunes only while the scheduled ratio
 * is strictly below the target, so it stops one pruning short of it; here the first step whose schedule reaches the
 * target prunes too, so training ends at exactly ⌊n·ratio⌋ per block. Importance is updated every step after clipping
 * and pruning happens before the optimizer step, as in the reference trainer. Head groups are KV groups (see
 * {@link StructuredMask}); the reference assumes as many KV heads as query heads.
 */
public final class LoraPrune implements TrainingHook {
    public static final String NAME = LoraPruneAdapter.METHOD;
    private static final float MOVING_AVERAGE = 0.9f;

    private final TrainableAdapterSet adapters;
    private final LlamaWeights weights;
    private final StructuredMask mask;
    private final double ratio, initRatio, warmup, cooldown;
    private final int pruneFreq, totalSteps;
    private final boolean[] prunable;
    private final float[][][] importance;   // [layer][kind][structure], the moving average Ī
    private double scheduled;

    public LoraPrune(TrainableAdapterSet adapters, LlamaModel model, HyperParams p, int totalSteps) {
        this.adapters = adapters;
        this.weights = model.weights();
        this.mask = StructuredMask.of(model.config());
        this.ratio = p.real("ratio", 0.5f);
        this.initRatio = p.real("init_ratio", 0f);
        this.warmup = p.real("warmup_iters", 0.1f);
        this.cooldown = p.real("cooldown_iters", 0.1f);
        this.pruneFreq = p.integer("prune_freq", 10);
        this.totalSteps = totalSteps;
        if (!(ratio > 0 && ratio < 1)) {
            throw new IllegalArgumentException("loraprune: ratio must be in (0, 1), got " + ratio);
        }
        if (!(initRatio >= 0 && initRatio <= ratio)) {
            throw new IllegalArgumentException("loraprune: init_ratio must be in [0, ratio=" + ratio + "], got " + initRatio);
        }
        if (!(warmup >= 0 && cooldown >= 0 && warmup + cooldown < 1)) {
            throw new IllegalArgumentException("loraprune: warmup_iters and cooldown_iters are fractions of training "
                    + "with warmup_iters + cooldown_iters < 1, got " + warmup + " and " + cooldown);
        }
        if (pruneFreq <= 0) {
            throw new IllegalArgumentException("loraprune: prune_freq must be positive, got " + pruneFreq);
        }
        int L = mask.layers();
        for (int l = 0; l < L; l++) {
            for (Target t : Target.values()) {
                TrainableAdapter a = adapters.get(l, t);
                if (!(a instanceof LoraPruneAdapter)) {
                    throw new IllegalArgumentException("loraprune needs a loraprune adapter on every linear layer "
                            + "(--method loraprune --targets all-linear): the criterion sums q, k, v, o per head group "
                            + "and gate, up, down per channel; layer " + l + " " + t.hfName() + " has "
                            + (a == null ? "none" : a.method()));
                }
            }
        }
        this.prunable = new boolean[L];
        for (int l = 0; l < L; l++) {
            prunable[l] = l >= (int) (0.1 * L) && l != L - 1;
        }
        this.importance = new float[L][2][];
        for (int l = 0; l < L; l++) {
            for (Kind k : Kind.values()) {
                importance[l][k.ordinal()] = new float[mask.groups(k)];
            }
        }
        this.scheduled = initRatio;
    }

    @Override
    public String name() {
        return NAME;
    }

    /** The structures pruned so far (live). */
    public StructuredMask mask() {
        return mask;
    }

    /** Whether block {@code layer} is ever pruned (not among the first ⌊0.1·L⌋ nor the last). */
    public boolean prunable(int layer) {
        return prunable[layer];
    }

    /** The reference's {@code schedule_sparsity_ratio}: the target sparsity at 0-based step {@code step}. */
    static double scheduledRatio(int step, int total, double warmup, double cooldown, double initial, double target) {
        if (step <= warmup * total) {
            return initial;
        }
        if (step > total - cooldown * total) {
            return target;
        }
        double mul = 1 - (step - warmup * total) / (total - (warmup + cooldown) * total);
        return target + (initial - target) * mul * mul * mul;
    }

    @Override
    public void adjustGradients(int step, float lr, List<Parameter> active) {
        updateImportance();
        scheduled = scheduledRatio(step, totalSteps, warmup, cooldown, initRatio, ratio);
        if (scheduled > initRatio && (step % pruneFreq == 0 || scheduled >= ratio)) {
            pruneTo(scheduled);
        }
    }

    /** Ī ← 0.9·Ī + 0.1·Σ_modules normalize(group sums of |G ⊙ (W + s·B·A)|), skipped if any value is NaN. */
    private void updateImportance() {
        double[][][] fresh = new double[prunable.length][2][];
        for (int l = 0; l < prunable.length; l++) {
            if (!prunable[l]) {
                continue;
            }
            LlamaWeights.Layer lw = weights.layers().get(l);
            for (Kind k : Kind.values()) {
                double[] sum = new double[mask.groups(k)];
                for (Target t : Target.values()) {
                    if (Kind.of(t) != k) {
                        continue;
                    }
                    var ad = (LoraPruneAdapter) adapters.get(l, t);
                    QuantMatrix w = TrainableAdapterSet.baseWeight(lw, t);
                    double[] s = GroupImportance.sum(mask, t, w.rows(), w.cols(), loraGuided(ad.lora(), w));
                    GroupImportance.normalize(s);
                    for (int g = 0; g < s.length; g++) {
                        sum[g] += s[g];
                    }
                }
                for (double v : sum) {
                    if (Double.isNaN(v)) {
                        return;
                    }
                }
                fresh[l][k.ordinal()] = sum;
            }
        }
        for (int l = 0; l < prunable.length; l++) {
            for (int k = 0; k < 2 && prunable[l]; k++) {
                float[] avg = importance[l][k];
                for (int g = 0; g < avg.length; g++) {
                    avg[g] = (float) (MOVING_AVERAGE * avg[g] + (1 - MOVING_AVERAGE) * fresh[l][k][g]);
                }
            }
        }
    }

    /**
     * The LoRA-guided element scores |G ⊙ (W + s·B·A)| of one layer, G = ∂B·A + B·∂A − ∂B·∂A from the LoRA
     * gradients accumulated in {@code lora}'s parameters; W is dequantized a row at a time.
     */
    static GroupImportance.ElementScores loraGuided(LoraAdapter lora, QuantMatrix w) {
        int r = lora.rank(), IC = lora.inFeatures();
        float[] a = lora.loraA().value(), da = lora.loraA().grad(), b = lora.loraB().value(), db = lora.loraB().grad();
        double s = lora.scale();
        float[] row = new float[IC];
        return (o, out) -> {
            w.dequantizeRow(o, row, 0);
            for (int i = 0; i < IC; i++) {
                double g = 0, ba = 0;
                for (int k = 0; k < r; k++) {
                    double bk = b[o * r + k], dbk = db[o * r + k], ak = a[k * IC + i], dak = da[k * IC + i];
                    g += dbk * ak + bk * dak - dbk * dak;
                    ba += bk * ak;
                }
                out[i] = Math.abs(g * (row[i] + s * ba));
            }
        };
    }

    /** Every prunable block prunes its least important kept structures up to ⌊n·sparsity⌋ of each kind. */
    private void pruneTo(double sparsity) {
        for (int l = 0; l < prunable.length; l++) {
            if (!prunable[l]) {
                continue;
            }
            for (Kind k : Kind.values()) {
                int count = (int) (mask.groups(k) * sparsity);
                if (count > mask.prunedCount(l, k)) {
                    float[] imp = importance[l][k.ordinal()];
                    double[] d = new double[imp.length];
                    for (int g = 0; g < d.length; g++) {
                        d[g] = imp[g];
                    }
                    mask.pruneTo(l, k, count, d);
                }
            }
            pushMasks(l);
        }
    }

    private void pushMasks(int l) {
        for (Target t : Target.values()) {
            var ad = (LoraPruneAdapter) adapters.get(l, t);
            ad.setMask(mask.rowMask(l, t, ad.outFeatures()));
        }
    }

    @Override
    public Map<String, Object> metrics() {
        int heads = 0, channels = 0;
        for (int l = 0; l < prunable.length; l++) {
            heads += mask.prunedCount(l, Kind.HEADS);
            channels += mask.prunedCount(l, Kind.CHANNELS);
        }
        return Map.of("loraprune_ratio", scheduled, "pruned_head_groups", heads, "pruned_channels", channels);
    }

    @Override
    public Map<String, float[]> state() {
        var out = new LinkedHashMap<String, float[]>();
        for (int l = 0; l < prunable.length; l++) {
            for (Kind k : Kind.values()) {
                String key = l + "." + k.name().toLowerCase(java.util.Locale.ROOT);
                out.put("importance." + key, importance[l][k.ordinal()]);
                out.put("pruned." + key, mask.toFloats(l, k));
            }
        }
        return out;
    }

    @Override
    public void load(Map<String, float[]> state, Map<String, String> meta) {
        for (int l = 0; l < prunable.length; l++) {
            for (Kind k : Kind.values()) {
                String key = l + "." + k.name().toLowerCase(java.util.Locale.ROOT);
                float[] imp = state.get("importance." + key), flags = state.get("pruned." + key);
                if (imp == null || flags == null || imp.length != importance[l][k.ordinal()].length) {
                    throw new IllegalArgumentException("loraprune checkpoint lacks importance/pruned flags of layer "
                            + l + " " + k + " (or they have the wrong size)");
                }
                System.arraycopy(imp, 0, importance[l][k.ordinal()], 0, imp.length);
                mask.loadFloats(l, k, flags);
            }
            pushMasks(l);
        }
    }
}
