package dev.jlora.engine.adapter;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Full-parameter training of one linear layer over a frozen (possibly quantized) base: a dense fp32 ΔW [OC × IC],
 * initialised to 0, so that y = x·(W + ΔW)ᵀ. This is what layer-wise full fine-tuning methods (LISA, OwLore) and
 * full-rank optimizers (GaLore-style projections, Fira) update: the quantized W stays the stored weight and the
 * trained part is the exact difference, so merging is W + ΔW. Memory is one OC × IC fp32 matrix per layer (plus its
 * gradient and optimizer state), as much as the layer itself in fp32.
 */
public final class FullAdapter extends LinearLayerAdapter {
    public static final String METHOD = "full", DELTA = "delta_weight";
    private final Parameter delta;
    private boolean frozen;

    private record Saved() implements TrainableAdapter.Saved {}

    private static final Saved NOTHING = new Saved();

    public FullAdapter(int inFeatures, int outFeatures) {
        if (inFeatures <= 0 || outFeatures <= 0) {
            throw new IllegalArgumentException("full adapter shape must be positive, got IC=" + inFeatures
                    + " OC=" + outFeatures);
        }
        super("full fine-tuning", inFeatures, outFeatures);
        this.delta = Parameter.zeros(DELTA, OC, IC);
    }

    /**
     * Freezes (or unfreezes) ΔW for the following backward passes: a frozen adapter still passes the input gradient
     * through (dx += dy·ΔW) but skips its weight gradient, the dyᵀ·x product as large as the layer. Layer-sampling
     * methods (LISA, OwLore) freeze the layers they do not train this step; ΔW's gradient then stays as it was.
     */
    public void setFrozen(boolean frozen) {
        this.frozen = frozen;
    }

    /** ΔW [OC × IC], row-major. */
    public Parameter delta() {
        return delta;
    }

    @Override
    public String method() {
        return METHOD;
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(delta);
    }

    @Override
    public Map<String, String> config() {
        var m = new LinkedHashMap<String, String>();
        m.put("method", METHOD);
        return m;
    }

    /** y += x·ΔWᵀ. */
    @Override
    public void forward(float[] x, int T, float[] y) {
        SmallMatmul.abtAcc(y, 1f, x, delta.value(), T, OC, IC);
    }

    /** y += x·ΔWᵀ; nothing to save (backward reads x). */
    @Override
    public TrainableAdapter.Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed) {
        forward(x, T, y);
        return NOTHING;
    }

    /** dΔW += dyᵀ·x (unless frozen);  dx += dy·ΔW. */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!frozen) {
            SmallMatmul.atbAcc(delta.grad(), 1f, dy, x, T, OC, IC);
        }
        if (dx != null) {
            SmallMatmul.ab(dx, 1f, dy, delta.value(), T, IC, OC, true);
        }
    }

    /** w [OC × IC] += ΔW. */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        float[] d = delta.value();
        for (int i = 0; i < d.length; i++) {
            w[i] += d[i];
        }
    }
}
