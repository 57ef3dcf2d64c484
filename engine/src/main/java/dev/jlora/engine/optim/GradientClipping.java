package dev.jlora.engine.optim;

import dev.jlora.engine.adapter.Parameter;
import java.util.List;

/** Global-norm gradient clipping, as {@code torch.nn.utils.clip_grad_norm_}. */
public final class GradientClipping {
    private GradientClipping() {}

    /** ‖g‖₂ over all parameters, accumulated in double; NaN or ∞ when any gradient is. */
    public static double globalNorm(List<Parameter> params) {
        double s = 0;
        for (Parameter p : params) {
            for (float g : p.grad()) {
                s += (double) g * g;
            }
        }
        return Math.sqrt(s);
    }

    /**
     * Scales every gradient by min(1, maxNorm / (‖g‖ + 1e-6)) (PyTorch's coefficient) and returns ‖g‖ before
     * clipping. maxNorm ≤ 0 disables clipping. A non-finite norm is returned unchanged and nothing is scaled.
     */
    public static double clip(List<Parameter> params, double maxNorm) {
        double norm = globalNorm(params);
        if (maxNorm > 0 && Double.isFinite(norm)) {
            double coef = maxNorm / (norm + 1e-6);
            if (coef < 1) {
                for (Parameter p : params) {
                    float[] g = p.grad();
                    for (int i = 0; i < g.length; i++) {
                        g[i] = (float) (g[i] * coef);
                    }
                }
            }
        }
        return norm;
    }
}
