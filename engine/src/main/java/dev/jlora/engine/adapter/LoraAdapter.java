package dev.jlora.engine.adapter;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * LoRA (Hu et al. 2021) on one linear layer: y = x·Wᵀ + s·(drop(x)·Aᵀ)·Bᵀ with A [r × IC], B [OC × r],
 * s = alpha / r (or alpha / √r, rsLoRA). Follows PEFT's conventions: A is initialised as
 * {@code nn.init.kaiming_uniform_(A, a=√5)}, i.e. U(−1/√IC, 1/√IC), B is zero, so training starts at ΔW = 0;
 * dropout applies to the adapter's input only (inverted dropout, kept elements scaled by 1/(1−p)).
 */
public final class LoraAdapter implements TrainableAdapter {
    private final int IC, OC, r;
    private final float alpha, dropout, scale;
    private final boolean rsLora;
    private final Parameter a, b;

    /**
     * State saved by forwardTrain: the dropped input xd and its keep mask (both null without dropout) and
     * h = xd·Aᵀ [T × r].
     */
    private record Saved(float[] xd, boolean[] keep, float[] h) implements TrainableAdapter.Saved {}

    public LoraAdapter(int inFeatures, int outFeatures, int rank, float alpha, float dropout, boolean rsLora) {
        if (inFeatures <= 0 || outFeatures <= 0) {
            throw new IllegalArgumentException("LoRA layer shape must be positive, got IC=" + inFeatures + " OC=" + outFeatures);
        }
        new LoraConfig(rank, alpha, dropout, rsLora, java.util.Set.of(Target.Q)); // validates the hyperparameters
        this.IC = inFeatures;
        this.OC = outFeatures;
        this.r = rank;
        this.alpha = alpha;
        this.dropout = dropout;
        this.rsLora = rsLora;
        this.scale = rsLora ? (float) (alpha / Math.sqrt(rank)) : alpha / rank;
        this.a = Parameter.zeros("lora_A", r, IC);
        this.b = Parameter.zeros("lora_B", OC, r);
    }

    /** A LoRA adapter with PEFT's default initialisation drawn from {@code rnd}. */
    public static LoraAdapter create(int inFeatures, int outFeatures, LoraConfig cfg, SplittableRandom rnd) {
        var lora = new LoraAdapter(inFeatures, outFeatures, cfg.rank(), cfg.alpha(), cfg.dropout(), cfg.rsLora());
        lora.initKaimingUniform(rnd);
        return lora;
    }

    /**
     * A ~ U(−bound, bound) with bound = gain·√(3 / fan_in), gain = √(2 / (1 + a²)), a = √5 (PyTorch
     * {@code kaiming_uniform_}, as PEFT's {@code reset_lora_parameters}), which is 1/√IC; B = 0.
     */
    public void initKaimingUniform(SplittableRandom rnd) {
        double gain = Math.sqrt(2.0 / (1 + 5.0));
        double bound = gain * Math.sqrt(3.0 / IC);
        float[] av = a.value();
        for (int i = 0; i < av.length; i++) {
            av[i] = (float) ((rnd.nextDouble() * 2 - 1) * bound);
        }
        java.util.Arrays.fill(b.value(), 0f);
    }

    /** A [r × IC], row-major. */
    public Parameter loraA() {
        return a;
    }

    /** B [OC × r], row-major. */
    public Parameter loraB() {
        return b;
    }

    public int rank() {
        return r;
    }

    public float scale() {
        return scale;
    }

    @Override
    public String method() {
        return "lora";
    }

    @Override
    public int inFeatures() {
        return IC;
    }

    @Override
    public int outFeatures() {
        return OC;
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(a, b);
    }

    @Override
    public Map<String, String> config() {
        var m = new LinkedHashMap<String, String>();
        m.put("method", method());
        m.put("rank", Integer.toString(r));
        m.put("alpha", Float.toString(alpha));
        m.put("dropout", Float.toString(dropout));
        m.put("rs_lora", Boolean.toString(rsLora));
        return m;
    }

    /** Inference: y += s·(x·Aᵀ)·Bᵀ, no dropout. */
    @Override
    public void forward(float[] x, int T, float[] y) {
        float[] h = new float[T * r];
        SmallMatmul.abt(h, x, a.value(), T, r, IC);
        addUp(h, T, y);
    }

    /** xd = drop(x); h = xd·Aᵀ; y += s·h·Bᵀ. Saves xd (when dropout is on) and h. */
    @Override
    public TrainableAdapter.Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed) {
        float[] xd = null;
        boolean[] keep = null;
        if (dropout > 0) {
            xd = new float[T * IC];
            keep = new boolean[T * IC];
            var rnd = new SplittableRandom(dropoutSeed);
            float keepScale = 1f / (1f - dropout);
            for (int i = 0; i < xd.length; i++) {
                keep[i] = rnd.nextDouble() >= dropout;
                xd[i] = keep[i] ? x[i] * keepScale : 0f;
            }
        }
        float[] h = new float[T * r];
        SmallMatmul.abt(h, xd == null ? x : xd, a.value(), T, r, IC);
        addUp(h, T, y);
        return new Saved(xd, keep, h);
    }

    /** y [T × OC] += s·h·Bᵀ. */
    private void addUp(float[] h, int T, float[] y) {
        SmallMatmul.abtAcc(y, scale, h, b.value(), T, OC, r);
    }

    /**
     * dB += s·dyᵀ·h;  dh = s·dy·B;  dA += dhᵀ·xd;  dx += drop'(dh·A), where drop' applies the saved mask and 1/(1−p).
     */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("LoRA backward needs the state its own forwardTrain returned, got " + saved);
        }
        float[] xd = s.xd() == null ? x : s.xd();
        SmallMatmul.atbAcc(b.grad(), scale, dy, s.h(), T, OC, r);
        float[] dh = new float[T * r];
        SmallMatmul.ab(dh, scale, dy, b.value(), T, r, OC, false);
        SmallMatmul.atbAcc(a.grad(), 1f, dh, xd, T, r, IC);
        if (dx == null) {
            return;
        }
        if (s.xd() == null) {
            SmallMatmul.ab(dx, 1f, dh, a.value(), T, IC, r, true);
        } else {
            float[] dxd = new float[T * IC];
            SmallMatmul.ab(dxd, 1f, dh, a.value(), T, IC, r, false);
            float keepScale = 1f / (1f - dropout);
            for (int i = 0; i < dxd.length; i++) {
                if (s.keep()[i]) {
                    dx[i] += dxd[i] * keepScale;
                }
            }
        }
    }

    /** w [OC × IC] += s·B·A. */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        SmallMatmul.ab(w, scale, b.value(), a.value(), OC, IC, r, true);
    }
}
