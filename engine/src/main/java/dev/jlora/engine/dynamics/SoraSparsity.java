package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.HyperParams;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.SoraAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.train.TrainingHook;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * SoRA's sparsifying update of the gates (Ding et al. 2023, "Sparse Low-rank Adaptation of Pre-trained Language
 * Models", §3.2 Eq. (5)–(6)): the L1 penalty λ·‖g‖₁ is handled by proximal gradient descent, i.e. after the ordinary
 * optimizer step every gate is soft-thresholded, g ← sign(g)·max(|g| − ξ, 0) with ξ = η_t·λ (η_t the step's learning
 * rate). Gates that reach 0 stay pruned unless the task gradient pushes them out again by more than ξ in a step.
 * The paper's sparsifying scheduler (§3.3) raises λ over training to trace the performance/sparsity trade-off; the
 * authors' {@code SparseAdamW} offers {@code lambda_schedule} = linear, log_linear or exp_linear from
 * {@code sparse_lambda} to {@code max_lambda} in {@code lambda_num} values. Here the run is cut into lambda_num equal
 * stages, stage k using the k-th value, so λ is a function of the step (nothing to checkpoint).
 *
 * <p>The authors' code thresholds by {@code sparse_lambda} itself (its λ already contains the step size); this class
 * follows Eq. (6), so {@code sparse_lambda} here is the paper's λ. Metrics: {@code sora_active_rank} (nonzero gates
 * over all adapters, the total rank that merge/export keep) and {@code sora_lambda}.
 */
public final class SoraSparsity implements TrainingHook {
    /** How λ moves from sparse_lambda to max_lambda over the stages. */
    enum Schedule { NONE, LINEAR, LOG_LINEAR, EXP_LINEAR }

    private final List<Parameter> gates = new ArrayList<>();
    private final List<SoraAdapter> adapters = new ArrayList<>();
    private final double[] lambdas;
    private final Set<Parameter> activeGates = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
    private double lambda, lr;

    SoraSparsity(TrainableAdapterSet set, double sparseLambda, Schedule schedule, double maxLambda, int lambdaNum) {
        if (!(sparseLambda >= 0) || !Double.isFinite(sparseLambda)) {
            throw new IllegalArgumentException("sora: sparse_lambda must be a number ≥ 0, got " + sparseLambda);
        }
        for (var a : set.adapters()) {
            if (a instanceof SoraAdapter s) {
                adapters.add(s);
            }
        }
        for (Parameter p : set.parameters()) {
            if (p.name().endsWith("sora_gate")) {
                gates.add(p);
            }
        }
        if (gates.isEmpty()) {
            throw new IllegalArgumentException("sora: the adapters have no sora_gate (use --method sora)");
        }
        if (schedule == Schedule.NONE) {
            lambdas = new double[] {sparseLambda};
        } else {
            if (lambdaNum < 1 || !(maxLambda >= 0) || !Double.isFinite(maxLambda)) {
                throw new IllegalArgumentException("sora: lambda_schedule " + schedule.name().toLowerCase(Locale.ROOT)
                        + " needs max_lambda ≥ 0 and lambda_num ≥ 1, got " + maxLambda + ", " + lambdaNum);
            }
            if (schedule == Schedule.EXP_LINEAR && (sparseLambda <= 0 || maxLambda <= 0)) {
                throw new IllegalArgumentException("sora: exp_linear interpolates log λ, so sparse_lambda and max_lambda "
                        + "must be > 0");
            }
            lambdas = new double[lambdaNum];
            for (int k = 0; k < lambdaNum; k++) {
                double f = lambdaNum == 1 ? 0 : (double) k / (lambdaNum - 1);
                lambdas[k] = switch (schedule) {
                    case LINEAR -> sparseLambda + f * (maxLambda - sparseLambda);
                    case LOG_LINEAR -> Math.log(Math.exp(sparseLambda) + f * (Math.exp(maxLambda) - Math.exp(sparseLambda)));
                    case EXP_LINEAR -> Math.exp(Math.log(sparseLambda) + f * (Math.log(maxLambda) - Math.log(sparseLambda)));
                    case NONE -> throw new IllegalStateException();
                };
            }
        }
        this.lambda = lambdas[0];
    }

    /** From --method-arg values: sparse_lambda (10), lambda_schedule (none), max_lambda, lambda_num. */
    static SoraSparsity create(HyperParams p, TrainableAdapterSet set) {
        Schedule s = switch (p.str("lambda_schedule", "none").trim().toLowerCase(Locale.ROOT)) {
            case "none" -> Schedule.NONE;
            case "linear" -> Schedule.LINEAR;
            case "log_linear" -> Schedule.LOG_LINEAR;
            case "exp_linear" -> Schedule.EXP_LINEAR;
            default -> throw new IllegalArgumentException("sora: lambda_schedule must be none, linear, log_linear or "
                    + "exp_linear, got '" + p.str("lambda_schedule", "") + "'");
        };
        double l = p.real("sparse_lambda", 10);
        return new SoraSparsity(set, l, s, p.real("max_lambda", (float) l), p.integer("lambda_num", 1));
    }

    @Override
    public String name() {
        return "sora";
    }

    /** λ of the stage step falls in: stage ⌊step·n / totalSteps⌋ of n = lambda_num. */
    @Override
    public void beforeStep(int step, int totalSteps) {
        int n = lambdas.length;
        lambda = lambdas[(int) Math.min(n - 1, (long) step * n / Math.max(1, totalSteps))];
    }

    @Override
    public void adjustGradients(int step, float lr, List<Parameter> active) {
        this.lr = lr;
        activeGates.clear();
        for (Parameter p : active) {
            if (p.name().endsWith("sora_gate")) {
                activeGates.add(p);
            }
        }
    }

    /** g ← sign(g)·max(|g| − η·λ, 0) for the gates that took part in the step. */
    @Override
    public void afterStep(int step) {
        float xi = (float) (lr * lambda);
        for (Parameter p : gates) {
            if (activeGates.contains(p)) {
                softThreshold(p.value(), xi);
            }
        }
    }

    static void softThreshold(float[] g, float xi) {
        for (int j = 0; j < g.length; j++) {
            float v = g[j];
            g[j] = v > xi ? v - xi : v < -xi ? v + xi : 0f;
        }
    }

    /** Nonzero gates over all SoRA adapters. */
    public int activeRank() {
        int n = 0;
        for (SoraAdapter a : adapters) {
            n += a.activeRank();
        }
        return n;
    }

    @Override
    public Map<String, Object> metrics() {
        var m = new LinkedHashMap<String, Object>();
        m.put("sora_active_rank", (long) activeRank());
        m.put("sora_lambda", lambda);
        return m;
    }
}
