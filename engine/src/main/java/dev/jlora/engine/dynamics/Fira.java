package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.FullAdapter;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.train.TrainingHook;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Fira (Chen, Feng, Xie, Zeng, Zhang &amp; Sun 2024, "Fira: Can We Achieve Full-rank Training of LLMs Under Low-rank
 * Constraint?", Algorithm 1, §3.2–3.3), following the authors' {@code optimizer_torch/fira_adamw.py} and
 * {@code gradient_projection.py}: full-rank updates with low-rank optimizer state. For each full-weight matrix (the
 * {@code full} adapter's ΔW) with gradient G, R = projection of G to rank r (GaLore's, {@link ProjectedAdam}),
 * ψ(R) = m/(√v + ε) the Adam direction on R from the moments without bias correction, back(·) the projection back
 * multiplied by the scale α ({@code fira_alpha}, the reference projector's {@code alpha}), and
 * <pre>
 *   S = φ ⊙ (G − back(R)),   φ = ‖ψ(R)‖ / ‖R‖ per column of R (left projection) or per row (right projection)
 *   W ← W − lr·√(1−β₂ᵗ)/(1−β₁ᵗ)·( back(ψ(R)) + S/ℓ )
 * </pre>
 * the residual — the part of the gradient outside the subspace that GaLore drops — scaled by the norm ratio φ taken
 * along the kept dimension ("norm-based scaling", the reference's {@code norm_dim}), and the norm-growth limiter
 * ℓ = max(‖S_t‖/‖S_{t−1}‖, γ)/γ with γ = 1.01 (§3.3), ‖S_{t−1}‖ being the previous step's limited norm. The bias
 * correction is the reference's step size: it multiplies the whole update after the limiter, so φ and the limiter
 * see the uncorrected moments, as in the reference.
 *
 * <p>The hook performs these updates itself after the trainer's optimizer step (so the ΔW tensors are inactive for
 * the trainer: no clipping or weight decay on them; the reference's Fira defaults to weight decay 0 too); the
 * embedding/norms/head, if trained, follow the trainer's optimizer. Projection rank {@code fira_rank} (128),
 * refresh period {@code fira_update_gap} (200) and α {@code fira_alpha} (1, the reference's fine-tuning default;
 * its pre-training scripts use 0.25).
 */
public final class Fira implements TrainingHook {
    static final double LIMIT_GROWTH = 1.01;

    private final List<Parameter> matrices;
    private final Map<String, int[]> shapes = new LinkedHashMap<>();
    private final ProjectedAdam adam;
    private final double alpha, beta1, beta2, eps;
    private final Map<String, float[]> lastResidualNorm = new LinkedHashMap<>();
    private float lr;

    public Fira(TrainableAdapterSet adapters, TrainConfig cfg, int rank, int updateGap, double alpha) {
        if (adapters.adapters().isEmpty() || !adapters.adapters().stream().allMatch(a -> a instanceof FullAdapter)) {
            throw new IllegalArgumentException("fira updates full weight matrices: train with --method full");
        }
        this.matrices = adapters.parameters().stream().filter(p -> p.name().endsWith(FullAdapter.DELTA)).toList();
        for (Parameter p : matrices) {
            shapes.put(p.name(), p.shape());
        }
        if (!(alpha > 0) || !Double.isFinite(alpha)) {
            throw new IllegalArgumentException("fira: fira_alpha must be a positive number, got " + alpha);
        }
        this.adam = new ProjectedAdam(rank, updateGap, cfg.beta1(), cfg.beta2(), cfg.eps(), cfg.seed());
        this.alpha = alpha;
        this.beta1 = cfg.beta1();
        this.beta2 = cfg.beta2();
        this.eps = cfg.eps();
    }

    @Override
    public String name() {
        return "fira";
    }

    @Override
    public boolean isActive(Parameter p) {
        return !shapes.containsKey(p.name());
    }

    @Override
    public void adjustGradients(int step, float lr, List<Parameter> active) {
        this.lr = lr;
    }

    @Override
    public void afterStep(int step) {
        for (Parameter p : matrices) {
            update(p, step);
        }
    }

    private void update(Parameter p, int step) {
        ProjectedAdam.Step st = adam.step(p, step);
        ProjectedAdam.Slot s = st.slot();
        double[] g = new double[p.size()];
        for (int i = 0; i < g.length; i++) {
            g[i] = p.grad()[i];
        }
        double[] psi = new double[s.expAvg.length];
        for (int i = 0; i < psi.length; i++) {
            psi[i] = s.expAvg[i] / (Math.sqrt(s.expAvgSq[i]) + eps);
        }
        double[] lowBack = ProjectedAdam.back(s, st.low());
        double[] dir = ProjectedAdam.back(s, psi);
        double[] phi = columnRatios(s, psi, st.low());
        int m = s.m, n = s.n;
        double[] scaled = new double[m * n];
        double ss = 0;
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double f = s.right ? phi[i] : phi[j];
                double v = f * (g[i * n + j] - alpha * lowBack[i * n + j]);
                scaled[i * n + j] = v;
                ss += v * v;
            }
        }
        double norm = Math.sqrt(ss);
        float[] prev = lastResidualNorm.get(p.name());
        double limiter = 1;
        if (prev != null) {
            limiter = Math.max(norm / (prev[0] + 1e-8), LIMIT_GROWTH) / LIMIT_GROWTH;
            lastResidualNorm.get(p.name())[0] = (float) (norm / limiter);
        } else {
            lastResidualNorm.put(p.name(), new float[] {(float) norm});
        }
        double t = s.steps[0];
        double stepSize = lr * Math.sqrt(1 - Math.pow(beta2, t)) / (1 - Math.pow(beta1, t));
        float[] w = p.value();
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (w[i] - stepSize * (alpha * dir[i] + scaled[i] / limiter));
        }
    }

    /** φ: ‖ψ(R)‖/‖R‖ per column of R [r × n] (left projection) or per row of R [m × r] (right projection). */
    static double[] columnRatios(ProjectedAdam.Slot s, double[] normalized, double[] low) {
        int count = s.right ? s.m : s.n, r = s.r;
        double[] num = new double[count], den = new double[count];
        for (int i = 0; i < low.length; i++) {
            int idx = s.right ? i / r : i % s.n;
            num[idx] += normalized[i] * normalized[i];
            den[idx] += low[i] * low[i];
        }
        double[] phi = new double[count];
        for (int k = 0; k < count; k++) {
            phi[k] = Math.sqrt(num[k]) / (Math.sqrt(den[k]) + 1e-8);
        }
        return phi;
    }

    @Override
    public Map<String, float[]> state() {
        var out = new LinkedHashMap<>(adam.state());
        lastResidualNorm.forEach((k, v) -> out.put(k + ".residual_norm", v));
        return out;
    }

    @Override
    public void load(Map<String, float[]> state, Map<String, String> meta) {
        var adamState = new LinkedHashMap<String, float[]>();
        lastResidualNorm.clear();
        state.forEach((k, v) -> {
            if (k.endsWith(".residual_norm")) {
                lastResidualNorm.put(k.substring(0, k.length() - ".residual_norm".length()), v.clone());
            } else {
                adamState.put(k, v);
            }
        });
        adam.load(adamState, shapes);
    }
}
