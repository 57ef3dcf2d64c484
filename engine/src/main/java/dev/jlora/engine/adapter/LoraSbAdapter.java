package dev.jlora.engine.adapter;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * LoRA-SB (Ponkshe, Singhal, Gorbunov, Tumanov, Horváth and Vepakomma 2024, "Initialization using Update
 * Approximation is a Silver Bullet for Extreme Efficient Fine-tuning", arXiv:2411.19557, §3–4): the LoRA-XS
 * architecture y = x·Wᵀ + drop(x)·Aᵀ·Rᵀ·Bᵀ, i.e. ΔW = B·R·A, with A [r × IC] and B [OC × r] frozen and only the
 * r × r matrix R trained. Its initialisation ({@link LoraSbInit}) puts the truncated SVD of an approximation of the
 * first full fine-tuning update into B, R, A. There is no scale: the authors' code sets alpha = r ("our method is
 * hyperparameter independent"), so s = 1 and R absorbs it; {@code alpha} is therefore not a LoRA-SB key. Dropout on
 * the adapter input as in PEFT.
 *
 * <p>Because ΔW is linear in R, averaging the R of several clients averages their updates exactly: Fed-SB
 * ({@code engine.train.FedSb}) relies on this.
 */
public final class LoraSbAdapter extends DroppedInputAdapter {
    private final int r;
    private final Map<String, String> initConfig;
    private final float[] a, b;          // frozen buffers lora_A [r × IC], lora_B [OC × r]
    private final Parameter rMatrix;     // lora_R [r × r]

    /** h = xd·Aᵀ [T × r], g = h·Rᵀ [T × r]. */
    private record Saved(InputDropout drop, float[] h, float[] g) implements TrainableAdapter.Saved {}

    /**
     * All zero: fill through {@link #load} or {@link LoraSbInit}.
     *
     * @param initConfig how it was initialised ({@code init_lr}, {@code update}, {@code init_batches}), written into
     *                   {@link #config()} so a file records it
     */
    public LoraSbAdapter(int inFeatures, int outFeatures, int rank, float dropout, Map<String, String> initConfig) {
        if (inFeatures <= 0 || outFeatures <= 0 || rank <= 0) {
            throw new IllegalArgumentException("LoRA-SB shape must be positive, got IC=" + inFeatures + " OC="
                    + outFeatures + " rank=" + rank);
        }
        if (rank > Math.min(inFeatures, outFeatures)) {
            throw new IllegalArgumentException("LoRA-SB rank " + rank + " exceeds min(OC, IC) of the " + outFeatures
                    + "×" + inFeatures + " weight");
        }
        super("LoRA-SB", inFeatures, outFeatures, dropout);
        this.r = rank;
        this.initConfig = Map.copyOf(initConfig);
        this.a = new float[r * IC];
        this.b = new float[OC * r];
        this.rMatrix = Parameter.zeros("lora_R", r, r);
    }

    /** A [r × IC] (frozen, orthonormal rows after {@link LoraSbInit}). */
    public float[] loraA() {
        return a;
    }

    /** B [OC × r] (frozen, orthonormal columns after {@link LoraSbInit}). */
    public float[] loraB() {
        return b;
    }

    /** R [r × r], the only trainable tensor. */
    public Parameter loraR() {
        return rMatrix;
    }

    public int rank() {
        return r;
    }

    @Override
    public String method() {
        return "lorasb";
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(rMatrix);
    }

    @Override
    public Map<String, float[]> buffers() {
        var m = new LinkedHashMap<String, float[]>();
        m.put("lora_A", a);
        m.put("lora_B", b);
        return m;
    }

    @Override
    public Map<String, String> config() {
        var m = commonConfig(r);
        m.putAll(new java.util.TreeMap<>(initConfig));
        return m;
    }

    /** h = xd·Aᵀ; g = h·Rᵀ; y += g·Bᵀ. */
    @Override
    Saved run(InputDropout drop, int T, float[] y) {
        float[] h = new float[T * r], g = new float[T * r];
        SmallMatmul.abt(h, drop.xd(), a, T, r, IC);
        SmallMatmul.abt(g, h, rMatrix.value(), T, r, r);
        SmallMatmul.abtAcc(y, 1f, g, b, T, OC, r);
        return new Saved(drop, h, g);
    }

    /** dg = dy·B [T × r]; dR += dgᵀ·h; dh = dg·R; dx += drop'(dh·A). A and B get no gradient. */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("LoRA-SB backward needs the state its own forwardTrain returned, got " + saved);
        }
        float[] dg = new float[T * r];
        SmallMatmul.ab(dg, 1f, dy, b, T, r, OC, false);
        SmallMatmul.atbAcc(rMatrix.grad(), 1f, dg, s.h(), T, r, r);
        if (dx == null) {
            return;
        }
        float[] dh = new float[T * r], dxd = new float[T * IC];
        SmallMatmul.ab(dh, 1f, dg, rMatrix.value(), T, r, r, false);
        SmallMatmul.ab(dxd, 1f, dh, a, T, IC, r, false);
        s.drop().backward(dxd, dx);
    }

    /** w [OC × IC] += B·R·A. */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        float[] br = new float[OC * r];
        SmallMatmul.ab(br, 1f, b, rMatrix.value(), OC, r, r, false);
        SmallMatmul.ab(w, 1f, br, a, OC, IC, r, true);
    }
}
