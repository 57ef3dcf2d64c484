package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.KasaAdapter;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.train.TrainingHook;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * KaSA's auxiliary losses (Wang et al. 2024, "KaSA: Knowledge-Aware Singular-Value Adaptation of Large Language
 * Models", §3, the training objective): L2 = ‖ΔΣ‖²_F, the squared norm of the knowledge-aware singular values, and L3 =
 * ‖ΔUᵀΔU − I_r‖_F + ‖ΔVᵀΔV − I_r‖_F, which keeps ΔU = B and ΔV = Aᵀ semi-orthogonal so that ΔU·ΔΣ·ΔVᵀ stays an SVD;
 * the training loss is L1 + β·L2 + γ·L3. As the authors' {@code loss_fn}, the sum over adapters is divided by the
 * number of adapters and the defaults are β = 1e-4, γ = 1e-3. Their code builds L3 from AᵀA [IC × IC] and BBᵀ
 * [OC × OC], which cannot reach I for r &lt; IC, OC; this class uses the r×r products of the paper's equation.
 * {@link #afterBackward} adds the gradients (+=) and returns the value, which joins the logged loss:
 * ∂‖ΔΣ‖²/∂ΔΣ = 2ΔΣ; with M = BᵀB − I, ∂‖M‖_F/∂B = 2·B·M/‖M‖_F; with N = A·Aᵀ − I, ∂‖N‖_F/∂A = 2·N·A/‖N‖_F (0 when the
 * norm is 0, where it is not differentiable). Metrics: {@code kasa_l2}, {@code kasa_l3} (unweighted, summed).
 */
public final class KasaRegularizer implements TrainingHook {
    private final List<KasaAdapter> adapters = new ArrayList<>();
    private final double beta, gamma;
    private double l2, l3;

    public KasaRegularizer(TrainableAdapterSet set, double beta, double gamma) {
        if (!(beta >= 0) || !(gamma >= 0) || !Double.isFinite(beta) || !Double.isFinite(gamma)) {
            throw new IllegalArgumentException("kasa: beta and gamma must be numbers ≥ 0, got " + beta + ", " + gamma);
        }
        for (var a : set.adapters()) {
            if (a instanceof KasaAdapter k) {
                adapters.add(k);
            }
        }
        if (adapters.isEmpty()) {
            throw new IllegalArgumentException("kasa: the adapters have no KaSA layers (use --method kasa)");
        }
        this.beta = beta;
        this.gamma = gamma;
    }

    @Override
    public String name() {
        return "kasa";
    }

    @Override
    public double afterBackward(int step) {
        double n = adapters.size();
        l2 = 0;
        l3 = 0;
        for (KasaAdapter k : adapters) {
            Parameter d = k.diag();
            for (int j = 0; j < d.size(); j++) {
                double v = d.value()[j];
                l2 += v * v;
                d.grad()[j] += (float) (beta * 2 * v / n);
            }
            int r = d.size();
            l3 += orthogonality(k.loraB(), r, false, gamma / n) + orthogonality(k.loraA(), r, true, gamma / n);
        }
        return (beta * l2 + gamma * l3) / n;
    }

    /**
     * ‖G − I‖_F with G = BᵀB (B [m × r] row-major) or, when {@code rowsAreVectors}, G = A·Aᵀ (A [r × m]); adds
     * weight·∂/∂(B or A) to the gradient and returns the norm.
     */
    static double orthogonality(Parameter p, int r, boolean rowsAreVectors, double weight) {
        float[] v = p.value();
        int m = v.length / r;
        double[] g = new double[r * r];
        for (int a = 0; a < r; a++) {
            for (int b = 0; b < r; b++) {
                double s = 0;
                for (int i = 0; i < m; i++) {
                    s += rowsAreVectors ? (double) v[a * m + i] * v[b * m + i] : (double) v[i * r + a] * v[i * r + b];
                }
                g[a * r + b] = s - (a == b ? 1 : 0);
            }
        }
        double norm = 0;
        for (double x : g) {
            norm += x * x;
        }
        norm = Math.sqrt(norm);
        if (norm == 0) {
            return 0;
        }
        double c = 2 * weight / norm;
        float[] grad = p.grad();
        for (int i = 0; i < m; i++) {
            for (int a = 0; a < r; a++) {
                double s = 0;
                for (int b = 0; b < r; b++) {
                    // (B·M)[i, a] = Σ_b B[i, b]·M[b, a]; (N·A)[a, i] = Σ_b N[a, b]·A[b, i]; M, N symmetric
                    s += g[a * r + b] * (rowsAreVectors ? v[b * m + i] : v[i * r + b]);
                }
                grad[rowsAreVectors ? a * m + i : i * r + a] += (float) (c * s);
            }
        }
        return norm;
    }

    @Override
    public Map<String, Object> metrics() {
        var m = new LinkedHashMap<String, Object>();
        m.put("kasa_l2", l2);
        m.put("kasa_l3", l3);
        return m;
    }
}
