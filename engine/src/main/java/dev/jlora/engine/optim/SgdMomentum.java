package dev.jlora.engine.optim;

import dev.jlora.engine.adapter.Parameter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * SGD with momentum in the form of {@code torch.optim.SGD} (dampening 0, no Nesterov): g ← g + λp (coupled L2 weight
 * decay); buf ← g on the first step, then buf ← μ·buf + g; p ← p − lr·buf.
 */
public final class SgdMomentum implements Optimizer {
    private final float momentum, weightDecay;
    private final Map<String, float[]> buf = new LinkedHashMap<>();
    private long t;

    public SgdMomentum(float momentum, float weightDecay) {
        if (!(momentum >= 0 && momentum < 1) || !(weightDecay >= 0)) {
            throw new IllegalArgumentException("SGD needs momentum in [0, 1) and weight decay ≥ 0, got "
                    + momentum + ", " + weightDecay);
        }
        this.momentum = momentum;
        this.weightDecay = weightDecay;
    }

    @Override
    public void step(List<Parameter> params, float baseLr, ToDoubleFunction<Parameter> lrScale) {
        t++;
        for (Parameter p : params) {
            float lr = (float) (baseLr * lrScale.applyAsDouble(p));
            float[] w = p.value(), g = p.grad();
            float[] b = buf.get(p.name());
            boolean first = b == null;
            if (first) {
                b = new float[p.size()];
                buf.put(p.name(), b);
            }
            for (int i = 0; i < w.length; i++) {
                float gi = g[i] + weightDecay * w[i];
                b[i] = first ? gi : momentum * b[i] + gi;
                w[i] -= lr * b[i];
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
        for (var e : buf.entrySet()) {
            out.put(e.getKey() + ".momentum_buffer", e.getValue());
        }
        return out;
    }

    @Override
    public void load(Map<String, float[]> state, long stepCount) {
        buf.clear();
        for (var e : state.entrySet()) {
            String k = e.getKey();
            if (!k.endsWith(".momentum_buffer")) {
                throw new IllegalArgumentException("SGD state has an unknown tensor '" + k + "'");
            }
            buf.put(k.substring(0, k.length() - ".momentum_buffer".length()), e.getValue().clone());
        }
        t = stepCount;
    }
}
