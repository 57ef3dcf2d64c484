package dev.jlora.engine.adapter;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * LoRA (Hu et al. 2021) on one linear layer: y = x·Wᵀ + s·(drop(x)·Aᵀ)·Bᵀ with A [r × IC], B [OC × r],
 * s = alpha / r (or alpha / √r, rsLoRA). Follows PEFT's conventions: A is initialised as
 * {@code nn.init.kaiming_uniform_(A, a=√5)}, i.e. U(−1/√IC, 1/√IC), B is zero, so training starts at ΔW = 0;
 * dropout applies to the adapter's input only (inverted dropout, kept elements scaled by 1/(1−p)).
 */
public final class LoraAdapter extends DroppedInputAdapter {
    private final int r;
    private final float alpha, scale;
    private final boolean rsLora;
    private final Parameter a, b;

    /** State saved by forwardTrain: the dropped input and h = xd·Aᵀ [T × r]. */
    private record Saved(InputDropout drop, float[] h) implements TrainableAdapter.Saved {}

    public LoraAdapter(int inFeatures, int outFeatures, int rank, float alpha, float dropout, boolean rsLora) {
        new LoraConfig(rank, alpha, dropout, rsLora, java.util.Set.of(Target.Q)); // validates the hyperparameters
        super("LoRA", inFeatures, outFeatures, dropout);
        this.r = rank;
        this.alpha = alpha;
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
        RandomInit.fillUniform(a.value(), RandomInit.kaimingBound(IC), rnd);
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
    public List<Parameter> parameters() {
        return List.of(a, b);
    }

    @Override
    public Map<String, String> config() {
        var m = commonConfig(r, alpha);
        m.put("rs_lora", Boolean.toString(rsLora));
        return m;
    }

    /** xd = drop(x); h = xd·Aᵀ; y += s·h·Bᵀ. Saves the dropout and h. */
    @Override
    Saved run(InputDropout drop, int T, float[] y) {
        return new Saved(drop, LowRankPath.forward(drop.xd(), a.value(), b.value(), scale, T, r, IC, OC, y));
    }

    /** dB += s·dyᵀ·h;  dh = s·dy·B;  dA += dhᵀ·xd;  dx += drop'(dh·A). */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("LoRA backward needs the state its own forwardTrain returned, got " + saved);
        }
        LowRankPath.backward(dy, s.h(), s.drop(), a.value(), b.value(), scale, a.grad(), b.grad(), T, r, IC, OC, dx);
    }

    /** w [OC × IC] += s·B·A. */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        SmallMatmul.ab(w, scale, b.value(), a.value(), OC, IC, r, true);
    }
}
