package dev.jlora.engine.adapter;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * FLoRA (Si, Wang, Yang, Xu, Li, Dai, Qiao, Yang and Shen 2024, "FLoRA: Low-Rank Core Space for N-dimension",
 * arXiv:2405.14739, §3): the change of an N-dimensional weight is a Tucker decomposition, a small trainable core G
 * multiplied along every mode by a trainable factor, ΔW = s·G ×₁ P₁ ×₂ P₂ ⋯ ×_N P_N. A linear layer is the 2-D case:
 * ΔW = s·P_out·Gᵀ·P_inᵀ with P_in [IC × r], P_out [OC × r] and the core G [r × r], i.e. a LoRA whose two factors
 * are joined through a full r×r core. The N-dimensional case applies to convolution kernels (N = 4 for conv2d); Llama
 * has no convolutions, so only N = 2 is implemented.
 *
 * <p>Layout and initialisation follow the authors' {@code FLoRALayer} ({@code param_0} = P_in, {@code param_1} =
 * P_out, {@code param_G} = G indexed [in-mode, out-mode], so ΔW[o, i] = s·Σ_ab P_out[o, b]·G[a, b]·P_in[i, a]):
 * factors {@code kaiming_normal_(a=√3)} (fan_in = r, so N(0, 1/(2r))), G = 0 so that ΔW = 0 at step 0, one scale
 * s ({@code flora_scale}, the reference's {@code scale}, default 1). Both modes use the rank r. Dropout applies to
 * the adapter's input, as the reference's {@code flora_dropout}.
 */
public final class FloraAdapter extends DroppedInputAdapter {
    private final int r;
    private final float scale;
    private final Parameter pIn, pOut, core;

    /** h = xd·P_in [T×r], z = h·G [T×r]. */
    private record Saved(InputDropout drop, float[] h, float[] z) implements TrainableAdapter.Saved {}

    /** All tensors zero: fill by {@link #load} or {@link #initFactors}. */
    public FloraAdapter(int inFeatures, int outFeatures, int rank, float scale, float dropout) {
        if (inFeatures <= 0 || outFeatures <= 0 || rank <= 0) {
            throw new IllegalArgumentException("FLoRA needs positive sizes, got IC=" + inFeatures + " OC=" + outFeatures
                    + " r=" + rank);
        }
        if (!Float.isFinite(scale)) {
            throw new IllegalArgumentException("FLoRA flora_scale must be finite, got " + scale);
        }
        super("FLoRA", inFeatures, outFeatures, dropout);
        this.r = rank;
        this.scale = scale;
        this.pIn = Parameter.zeros("flora_in", IC, r);
        this.pOut = Parameter.zeros("flora_out", OC, r);
        this.core = Parameter.zeros("flora_core", r, r);
    }

    /**
     * P_in, P_out ~ N(0, std²) with std = gain/√fan_in, gain = √(2/(1 + a²)), a = √3, fan_in = r (PyTorch's
     * {@code kaiming_normal_} on an [n × r] tensor, as {@code FLoRALayer.init_parameters}); G = 0.
     */
    public void initFactors(SplittableRandom rnd) {
        double std = Math.sqrt(2.0 / (1 + 3.0)) / Math.sqrt(r);
        for (Parameter p : List.of(pIn, pOut)) {
            float[] v = p.value();
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (std * PissaInit.gaussian(rnd));
            }
        }
        java.util.Arrays.fill(core.value(), 0f);
    }

    /** P_in [IC × r]. */
    public Parameter inFactor() {
        return pIn;
    }

    /** P_out [OC × r]. */
    public Parameter outFactor() {
        return pOut;
    }

    /** G [r × r], [in-mode, out-mode]. */
    public Parameter core() {
        return core;
    }

    @Override
    public String method() {
        return "flora";
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(pIn, pOut, core);
    }

    @Override
    public Map<String, String> config() {
        var c = new LinkedHashMap<String, String>();
        c.put("method", method());
        c.put("rank", Integer.toString(r));
        c.put("flora_scale", Float.toString(scale));
        c.put("dropout", Float.toString(dropout));
        return c;
    }

    /** h = xd·P_in; z = h·G; y += s·z·P_outᵀ. */
    @Override
    Saved run(InputDropout drop, int T, float[] y) {
        float[] h = new float[T * r], z = new float[T * r];
        SmallMatmul.ab(h, 1f, drop.xd(), pIn.value(), T, r, IC, false);
        SmallMatmul.ab(z, 1f, h, core.value(), T, r, r, false);
        SmallMatmul.abtAcc(y, scale, z, pOut.value(), T, OC, r);
        return new Saved(drop, h, z);
    }

    /** dP_out += s·dyᵀ·z; dz = s·dy·P_out; dG += hᵀ·dz; dh = dz·Gᵀ; dP_in += xdᵀ·dh; dx += drop'(dh·P_inᵀ). */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("FLoRA backward needs the state its own forwardTrain returned, got " + saved);
        }
        SmallMatmul.atbAcc(pOut.grad(), scale, dy, s.z(), T, OC, r);
        float[] dz = new float[T * r], dh = new float[T * r];
        SmallMatmul.ab(dz, scale, dy, pOut.value(), T, r, OC, false);
        SmallMatmul.atbAcc(core.grad(), 1f, s.h(), dz, T, r, r);
        SmallMatmul.abt(dh, dz, core.value(), T, r, r);
        SmallMatmul.atbAcc(pIn.grad(), 1f, s.drop().xd(), dh, T, IC, r);
        if (dx == null) {
            return;
        }
        float[] dxd = new float[T * IC];
        SmallMatmul.abt(dxd, dh, pIn.value(), T, IC, r);
        s.drop().backward(dxd, dx);
    }

    /** w += s·P_out·Gᵀ·P_inᵀ. */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        float[] outCore = new float[OC * r];                   // P_out·Gᵀ
        SmallMatmul.abt(outCore, pOut.value(), core.value(), OC, r, r);
        SmallMatmul.abtAcc(w, scale, outCore, pIn.value(), OC, IC, r);
    }
}
