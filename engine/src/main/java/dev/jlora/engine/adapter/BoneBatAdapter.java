package dev.jlora.engine.adapter;

import dev.jlora.quant.QuantMatrix;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Bone's "bat" form (Kang 2024, "Bone: Block-Affine Adaptation of Large Language Models", arXiv:2409.15371, §3, the
 * Block-Affine Transformation; PEFT's {@code BoneConfig(init_weights="bat")}): W is cut into r×r blocks W_ij (i over
 * the OC / r output blocks, j over the IC / r input blocks) and every output block row i has one trainable r×r block
 * b_i, shared by all its input blocks: ΔW_ij = W_ij·b_i + b_i. Unlike the plain "bone" form ({@link BoneAdapter}) the
 * update depends on W itself, so the adapter keeps a reference to its frozen base and reads it in every forward
 * (dequantized r rows at a time): a forward costs about one more dense pass over W, as in PEFT, which materialises
 * W + ΔW for every call. b starts at 0 (ΔW = 0). IC and OC must be multiples of r (PEFT's check); no dropout.
 *
 * <p>The base is not part of the saved adapter: a file of this form is a delta only on the weights it was trained
 * on, which {@link AdapterMethods#loader} passes back in.
 */
public final class BoneBatAdapter extends LinearLayerAdapter {
    private final int r;
    private final QuantMatrix base;
    private final Parameter blocks;

    /** xs = Σ_j x-blocks [T × r]. */
    private record Saved(float[] xs) implements TrainableAdapter.Saved {}

    public BoneBatAdapter(QuantMatrix base, int rank) {
        int oc = base.rows(), ic = base.cols();
        if (rank <= 0) {
            throw new IllegalArgumentException("Bone (bat) rank must be positive, got " + rank);
        }
        if (ic % rank != 0 || oc % rank != 0) {
            throw new IllegalArgumentException("Bone (bat) needs in_features and out_features divisible by r (the "
                    + "weight is cut into r×r blocks): OC=" + oc + ", IC=" + ic + ", r=" + rank);
        }
        super("Bone (bat)", ic, oc);
        this.r = rank;
        this.base = base;
        this.blocks = Parameter.zeros("bone_block", OC / r, r, r);
    }

    /** b [OC/r × r × r]: b_i[k, q] at i·r² + k·r + q. */
    public Parameter blocks() {
        return blocks;
    }

    @Override
    public String method() {
        return "bone";
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(blocks);
    }

    @Override
    public Map<String, String> config() {
        var c = new LinkedHashMap<String, String>();
        c.put("method", method());
        c.put("rank", Integer.toString(r));
        c.put("init_weights", "bat");
        return c;
    }

    /** Rows [i·r, (i+1)·r) of W as [r × IC]. */
    private float[] blockRows(int i) {
        float[] w = new float[r * IC];
        for (int p = 0; p < r; p++) {
            base.dequantizeRow(i * r + p, w, p * IC);
        }
        return w;
    }

    /** xt[t, j·r + k] = Σ_q b_i[k, q]·x[t, j·r + q]: every input block transformed by b_i. */
    private float[] transformed(float[] x, int T, int i) {
        float[] b = blocks.value();
        int bo = i * r * r;
        float[] xt = new float[T * IC];
        for (int t = 0; t < T; t++) {
            for (int j = 0; j < IC; j += r) {
                int xo = t * IC + j;
                for (int k = 0; k < r; k++) {
                    float s = 0f;
                    for (int q = 0; q < r; q++) {
                        s += b[bo + k * r + q] * x[xo + q];
                    }
                    xt[xo + k] = s;
                }
            }
        }
        return xt;
    }

    @Override
    public void forward(float[] x, int T, float[] y) {
        forwardTrain(x, T, y, 0);
    }

    /** xs = Σ_j x_j; for each output block i: y_i += xt⁽ⁱ⁾·W_iᵀ + xs·b_iᵀ. */
    @Override
    public TrainableAdapter.Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed) {
        float[] xs = BoneAdapter.groupSum(x, T, IC, r);
        float[] b = blocks.value();
        float[] yi = new float[T * r];
        for (int i = 0; i < OC / r; i++) {
            SmallMatmul.abt(yi, transformed(x, T, i), blockRows(i), T, r, IC);
            for (int t = 0; t < T; t++) {
                for (int p = 0; p < r; p++) {
                    float s = yi[t * r + p];
                    for (int q = 0; q < r; q++) {
                        s += b[i * r * r + p * r + q] * xs[t * r + q];
                    }
                    y[t * OC + i * r + p] += s;
                }
            }
        }
        return new Saved(xs);
    }

    /**
     * Per output block i, with dy_i = dy[:, i·r : (i+1)·r]: db_i += dy_iᵀ·xs; dxs += dy_i·b_i; dxt = dy_i·W_i;
     * db_i[k, q] += Σ_{t, j} dxt[t, j·r + k]·x[t, j·r + q]; dx[t, j·r + q] += Σ_k b_i[k, q]·dxt[t, j·r + k]. Finally
     * every input block of dx gets dxs.
     */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("Bone (bat) backward needs the state its own forwardTrain returned, got " + saved);
        }
        float[] b = blocks.value(), db = blocks.grad();
        float[] dxs = new float[T * r], dyi = new float[T * r], dxt = new float[T * IC];
        for (int i = 0; i < OC / r; i++) {
            int bo = i * r * r;
            for (int t = 0; t < T; t++) {
                System.arraycopy(dy, t * OC + i * r, dyi, t * r, r);
            }
            SmallMatmul.ab(dxt, 1f, dyi, blockRows(i), T, IC, r, false);
            for (int t = 0; t < T; t++) {
                for (int p = 0; p < r; p++) {
                    float g = dyi[t * r + p];
                    for (int q = 0; q < r; q++) {
                        db[bo + p * r + q] += g * s.xs()[t * r + q];
                        dxs[t * r + q] += g * b[bo + p * r + q];
                    }
                }
                for (int j = 0; j < IC; j += r) {
                    int xo = t * IC + j;
                    for (int k = 0; k < r; k++) {
                        float g = dxt[xo + k];
                        for (int q = 0; q < r; q++) {
                            db[bo + k * r + q] += g * x[xo + q];
                            if (dx != null) {
                                dx[xo + q] += b[bo + k * r + q] * g;
                            }
                        }
                    }
                }
            }
        }
        if (dx != null) {
            for (int t = 0; t < T; t++) {
                for (int c = 0; c < IC; c++) {
                    dx[t * IC + c] += dxs[t * r + c % r];
                }
            }
        }
    }

    /** w[i·r + p, j·r + q] += Σ_k W[i·r + p, j·r + k]·b_i[k, q] + b_i[p, q], with W the adapter's own base. */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        float[] b = blocks.value();
        float[] row = new float[IC];
        for (int o = 0; o < OC; o++) {
            base.dequantizeRow(o, row, 0);
            int bo = (o / r) * r * r, p = o % r;
            for (int j = 0; j < IC; j += r) {
                for (int q = 0; q < r; q++) {
                    float s = b[bo + p * r + q];
                    for (int k = 0; k < r; k++) {
                        s += row[j + k] * b[bo + k * r + q];
                    }
                    w[o * IC + j + q] += s;
                }
            }
        }
    }
}
