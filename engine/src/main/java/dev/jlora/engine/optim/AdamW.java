package dev.jlora.engine.optim;

import dev.jlora.engine.adapter.Parameter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * AdamW (Loshchilov &amp; Hutter 2019, "Decoupled Weight Decay Regularization", Algorithm 2), in the form of
 * {@code torch.optim.AdamW}: p ← p·(1 − lr·λ); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
 * p ← p − lr·(m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε). Moments are fp32; updates are computed in double per element.
 */
public final class AdamW implements Optimizer {
    private final float beta1, beta2, eps, weightDecay;
    private final Map<String, float[]> m = new LinkedHashMap<>(), v = new LinkedHashMap<>();
    private long t;

    public AdamW(float beta1, float beta2, float eps, float weightDecay) {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("AdamW betas must be in [0, 1), got " + beta1 + ", " + beta2);
        }
        if (!(eps > 0) || !(weightDecay >= 0)) {
            throw new IllegalArgumentException("AdamW needs eps > 0 and weight decay ≥ 0, got " + eps + ", " + weightDecay);
        }
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
    }

    /** PyTorch's defaults: β = (0.9, 0.999), ε = 1e-8, λ = 0.01. */
    public static AdamW defaults() {
        return new AdamW(0.9f, 0.999f, 1e-8f, 0.01f);
    }

    @Override
    public void step(List<Parameter> params, float baseLr, ToDoubleFunction<Parameter> lrScale) {
        t++;
        double bc1 = 1 - Math.pow(beta1, t), bc2 = 1 - Math.pow(beta2, t);
        for (Parameter p : params) {
            float lr = (float) (baseLr * lrScale.applyAsDouble(p));
            float[] mm = m.computeIfAbsent(p.name(), k -> new float[p.size()]);
            float[] vv = v.computeIfAbsent(p.name(), k -> new float[p.size()]);
            if (mm.length != p.size()) {
                throw new IllegalStateException("parameter '" + p.name() + "' changed size from " + mm.length + " to " + p.size());
            }
            float[] w = p.value(), g = p.grad();
            for (int i = 0; i < w.length; i++) {
                double gi = g[i];
                double wi = w[i] * (1 - (double) lr * weightDecay);
                mm[i] = (float) (beta1 * mm[i] + (1 - beta1) * gi);
                vv[i] = (float) (beta2 * vv[i] + (1 - beta2) * gi * gi);
                double denom = Math.sqrt(vv[i] / bc2) + eps;
                w[i] = (float) (wi - lr * (mm[i] / bc1) / denom);
            }
        }
    }

    @Override
    public long stepCount() {
        return t;
    }

    @Override
    public Map<String, float[]> state() {
        var out = new LinkedHashMap<String, float[]>();
        for (var e : m.entrySet()) {
            out.put(e.getKey() + ".exp_avg", e.getValue());
            out.put(e.getKey() + ".exp_avg_sq", v.get(e.getKey()));
        }
        return out;
    }

    @Override
    public void load(Map<String, float[]> state, long stepCount) {
        m.clear();
        v.clear();
        for (var e : state.entrySet()) {
            String k = e.getKey();
            if (k.endsWith(".exp_avg")) {
                m.put(k.substring(0, k.length() - ".exp_avg".length()), e.getValue().clone());
            } else if (k.endsWith(".exp_avg_sq")) {
                v.put(k.substring(0, k.length() - ".exp_avg_sq".length()), e.getValue().clone());
            } else {
                throw new IllegalArgumentException("AdamW state has an unknown tensor '" + k + "'");
            }
        }
        if (!m.keySet().equals(v.keySet())) {
            throw new IllegalArgumentException("AdamW state: first and second moments name different parameters");
        }
        t = stepCount;
    }
}
