package dev.jlora.engine.adapter;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Bone (Kang 2024, "Bone: Block-Affine Adaptation of Large Language Models", arXiv:2409.15371, §3): the update is
 * one trainable block b [r × OC] shared by every r-column group of W: ΔW[o, g·r + j] = b[j, o], so
 * Δ(x) = (Σ_g x[g·r : (g+1)·r])·b, the input summed over its IC / r groups. Starts at b = 0 (ΔW = 0). Conventions
 * follow PEFT's {@code BoneLayer} with {@code init_weights=True} (the "bone" form; the "bat" form, whose update
 * also multiplies W's blocks, is {@link BoneBatAdapter}, {@code init_weights=bat}): IC must be a multiple of r, no
 * dropout.
 */
public final class BoneAdapter extends LinearLayerAdapter {
    private final int r;
    private final Parameter block;

    /** xs = Σ_g x-groups [T × r]. */
    private record Saved(float[] xs) implements TrainableAdapter.Saved {}

    public BoneAdapter(int inFeatures, int outFeatures, int rank) {
        if (inFeatures <= 0 || outFeatures <= 0 || rank <= 0) {
            throw new IllegalArgumentException("Bone needs positive sizes, got IC=" + inFeatures + " OC=" + outFeatures + " r=" + rank);
        }
        if (inFeatures % rank != 0) {
            throw new IllegalArgumentException("Bone needs in_features divisible by r: IC=" + inFeatures + ", r=" + rank);
        }
        super("Bone", inFeatures, outFeatures);
        this.r = rank;
        this.block = Parameter.zeros("bone_block", r, OC);
    }

    /** b [r × OC]. */
    public Parameter block() {
        return block;
    }

    @Override
    public String method() {
        return "bone";
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(block);
    }

    @Override
    public Map<String, String> config() {
        var c = new LinkedHashMap<String, String>();
        c.put("method", method());
        c.put("rank", Integer.toString(r));
        return c;
    }

    /** xs[t, j] = Σ_g x[t, g·r + j] for x [T × IC] (also the "bat" form's shared term). */
    static float[] groupSum(float[] x, int T, int IC, int r) {
        float[] xs = new float[T * r];
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < IC; i++) {
                xs[t * r + i % r] += x[t * IC + i];
            }
        }
        return xs;
    }

    @Override
    public void forward(float[] x, int T, float[] y) {
        forwardTrain(x, T, y, 0);
    }

    @Override
    public TrainableAdapter.Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed) {
        float[] xs = groupSum(x, T, IC, r);
        SmallMatmul.ab(y, 1f, xs, block.value(), T, OC, r, true);
        return new Saved(xs);
    }

    /** db += xsᵀ·dy; dxs = dy·bᵀ; dx[t, g·r + j] += dxs[t, j]. */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("Bone backward needs the state its own forwardTrain returned, got " + saved);
        }
        SmallMatmul.atbAcc(block.grad(), 1f, s.xs(), dy, T, r, OC);
        if (dx == null) {
            return;
        }
        float[] dxs = new float[T * r];
        SmallMatmul.abt(dxs, dy, block.value(), T, r, OC);
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < IC; i++) {
                dx[t * IC + i] += dxs[t * r + i % r];
            }
        }
    }

    /** w[o, g·r + j] += b[j, o]. */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        float[] b = block.value();
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < IC; i++) {
                w[o * IC + i] += b[(i % r) * OC + o];
            }
        }
    }
}
