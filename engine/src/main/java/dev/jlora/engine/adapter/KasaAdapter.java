package dev.jlora.engine.adapter;

import dev.jlora.engine.linalg.Svd;
import dev.jlora.quant.QuantMatrix;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * KaSA (Wang, Jiang, Park, Kim and Tang 2024, "KaSA: Knowledge-Aware Singular-Value Adaptation of Large Language
 * Models", arXiv:2412.06071, §3): (1) knowledge-based SVD truncation, the r smallest singular components of W (noisy,
 * long-tail knowledge) are removed from the frozen base, W_world = W − U_s·Σ_s·V_sᵀ; (2) the update is in SVD form,
 * ΔW = s·ΔU·diag(ΔΣ)·ΔVᵀ with trainable ΔU = B [OC × r], ΔΣ = d [r], ΔVᵀ = A [r × IC] and s = alpha / r, kept close
 * to an SVD by the paper's regularisers (L2 on ΔΣ, orthogonality of ΔU and ΔV), which the training hook
 * {@code dynamics.KasaRegularizer} adds. Initialisation as the authors' code: A {@code kaiming_uniform_(a=√5)}, B = 0,
 * d ~ N(0, 1) ({@code torch.randn(r)}). The truncation keeps min(OC, IC) − r components (the paper's rank-(k − r)
 * W_world; the authors' code keeps in_features − r, the same for square weights).
 *
 * <p>The truncated base is stored in the base's type like PiSSA's residual ({@link #truncate} returns it for
 * {@link AdaptedModel}, which re-quantizes it through its {@code Requantizer}). The trained adapter is a delta on
 * W_world; {@link #onOriginalWeights()} turns it into a delta on the original W by also subtracting the removed part
 * (saved as the frozen buffers {@code kasa_removed_U} [OC × r], {@code kasa_removed_S} [r], {@code kasa_removed_Vt}
 * [r × IC]; config {@code kasa_base=original}), which is what {@code jlora train} saves so that merge/eval apply it
 * to the model it started from. The removed part is found with the float64 one-sided Jacobi SVD of the whole
 * dequantized W ({@link Svd#jacobi}): it needs the smallest singular values, which a randomized SVD of the top does
 * not give; its cost is O(OC·IC·min(OC, IC)) per sweep, milliseconds for stories-size layers, minutes per layer at
 * 4096². Dropout applies to the adapter's input.
 */
public final class KasaAdapter implements TrainableAdapter {
    /** Config value of {@code kasa_base}: the adapter is a delta on W_world (training) or on the original W. */
    public static final String TRUNCATED = "truncated", ORIGINAL = "original";

    private final float alpha;
    private final DiagonalLowRank core;
    private final boolean onOriginal;
    /** The removed r smallest components (buffers; used only on the original weights). */
    private final float[] removedU, removedS, removedVt;

    /** Zero tensors: fill by {@link #load} or use {@link #truncate}. */
    public KasaAdapter(int inFeatures, int outFeatures, int rank, float alpha, float dropout, boolean onOriginal) {
        if (!Float.isFinite(alpha) || alpha <= 0) {
            throw new IllegalArgumentException("KaSA alpha must be a positive number, got " + alpha);
        }
        if (rank >= Math.min(inFeatures, outFeatures)) {
            throw new IllegalArgumentException("KaSA removes r of the min(OC, IC) singular components, so r must be < "
                    + Math.min(inFeatures, outFeatures) + ", got " + rank);
        }
        this.alpha = alpha;
        this.core = new DiagonalLowRank("KaSA", inFeatures, outFeatures, rank, rank > 0 ? alpha / rank : 0, dropout,
                "lora_diag");
        this.onOriginal = onOriginal;
        this.removedU = new float[outFeatures * rank];
        this.removedS = new float[rank];
        this.removedVt = new float[rank * inFeatures];
    }

    /**
     * The adapter for {@code base} (initialised from {@code rnd}) and the truncated base W_world = W − U_s·Σ_s·V_sᵀ
     * [OC × IC] that replaces it, computed in float64 and rounded once.
     */
    public static ResidualAdapterFactory.Created truncate(QuantMatrix base, int rank, float alpha, float dropout,
                                                          SplittableRandom rnd) {
        int OC = base.rows(), IC = base.cols();
        var ad = new KasaAdapter(IC, OC, rank, alpha, dropout, false);
        ad.core.init(rnd);
        double[] w = AdapterInit.denseBase(base);
        Svd svd = Svd.jacobi(w, OC, IC);
        int k = svd.k(), first = k - rank;
        double[] removed = new double[OC * IC];
        for (int j = 0; j < rank; j++) {
            int c = first + j;
            ad.removedS[j] = (float) svd.s()[c];
            for (int o = 0; o < OC; o++) {
                ad.removedU[o * rank + j] = (float) svd.u()[o * k + c];
            }
            for (int i = 0; i < IC; i++) {
                ad.removedVt[j * IC + i] = (float) svd.vt()[c * IC + i];
            }
            for (int o = 0; o < OC; o++) {
                double us = svd.u()[o * k + c] * svd.s()[c];
                for (int i = 0; i < IC; i++) {
                    removed[o * IC + i] += us * svd.vt()[c * IC + i];
                }
            }
        }
        float[] residual = new float[OC * IC];
        for (int i = 0; i < residual.length; i++) {
            residual[i] = (float) (w[i] - removed[i]);
        }
        return new ResidualAdapterFactory.Created(ad, residual);
    }

    /** The same trained tensors (shared) as a delta on the original W: ΔW − U_s·Σ_s·V_sᵀ. */
    public KasaAdapter onOriginalWeights() {
        if (onOriginal) {
            return this;
        }
        var o = new KasaAdapter(core.IC, core.OC, core.r, alpha, core.dropout, true);
        for (int i = 0; i < 3; i++) {
            float[] from = parameters().get(i).value();
            System.arraycopy(from, 0, o.parameters().get(i).value(), 0, from.length);
        }
        System.arraycopy(removedU, 0, o.removedU, 0, removedU.length);
        System.arraycopy(removedS, 0, o.removedS, 0, removedS.length);
        System.arraycopy(removedVt, 0, o.removedVt, 0, removedVt.length);
        return o;
    }

    public Parameter loraA() {
        return core.a;
    }

    public Parameter loraB() {
        return core.b;
    }

    /** ΔΣ [r]. */
    public Parameter diag() {
        return core.d;
    }

    /** The removed singular values σ_s (ascending from the (k − r)-th), for reports and tests. */
    public float[] removedSingularValues() {
        return removedS.clone();
    }

    public boolean onOriginal() {
        return onOriginal;
    }

    @Override
    public String method() {
        return "kasa";
    }

    @Override
    public int inFeatures() {
        return core.IC;
    }

    @Override
    public int outFeatures() {
        return core.OC;
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(core.a, core.b, core.d);
    }

    @Override
    public Map<String, float[]> buffers() {
        if (!onOriginal) {
            return Map.of();
        }
        var m = new LinkedHashMap<String, float[]>();
        m.put("kasa_removed_U", removedU);
        m.put("kasa_removed_S", removedS);
        m.put("kasa_removed_Vt", removedVt);
        return m;
    }

    @Override
    public Map<String, String> config() {
        var c = new LinkedHashMap<String, String>();
        c.put("method", method());
        c.put("rank", Integer.toString(core.r));
        c.put("alpha", Float.toString(alpha));
        c.put("dropout", Float.toString(core.dropout));
        c.put("kasa_base", onOriginal ? ORIGINAL : TRUNCATED);
        return c;
    }

    @Override
    public void forward(float[] x, int T, float[] y) {
        core.forward(x, T, y, 0, 0);
        subtractRemoved(x, T, y);
    }

    /** y += s·B·diag(d)·A·drop(x), and on the original weights also −U_s·Σ_s·V_sᵀ·x (no dropout: it is base). */
    @Override
    public TrainableAdapter.Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed) {
        var saved = core.forward(x, T, y, core.dropout, dropoutSeed);
        subtractRemoved(x, T, y);
        return saved;
    }

    /** On the original weights: y −= x·(U_s·Σ_s·V_sᵀ)ᵀ. */
    private void subtractRemoved(float[] x, int T, float[] y) {
        if (onOriginal) {
            int r = core.r;
            float[] h = new float[T * r];
            SmallMatmul.abt(h, x, removedVt, T, r, core.IC);
            for (int t = 0; t < T; t++) {
                for (int j = 0; j < r; j++) {
                    h[t * r + j] *= -removedS[j];
                }
            }
            SmallMatmul.abtAcc(y, 1f, h, removedU, T, core.OC, r);
        }
    }

    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof DiagonalLowRank.Saved s)) {
            throw new IllegalArgumentException("KaSA backward needs the state its own forwardTrain returned, got " + saved);
        }
        core.backward(T, dy, s, dx);
        if (onOriginal && dx != null) {
            int r = core.r;
            float[] g = new float[T * r];
            SmallMatmul.ab(g, 1f, dy, removedU, T, r, core.OC, false);
            for (int t = 0; t < T; t++) {
                for (int j = 0; j < r; j++) {
                    g[t * r + j] *= -removedS[j];
                }
            }
            SmallMatmul.ab(dx, 1f, g, removedVt, T, core.IC, r, true);
        }
    }

    /** w += s·B·diag(d)·A (− U_s·Σ_s·V_sᵀ on the original weights). */
    @Override
    public void mergeInto(float[] w) {
        core.mergeInto(w);
        if (onOriginal) {
            int r = core.r, OC = core.OC;
            float[] us = new float[OC * r];
            for (int o = 0; o < OC; o++) {
                for (int j = 0; j < r; j++) {
                    us[o * r + j] = -removedU[o * r + j] * removedS[j];
                }
            }
            SmallMatmul.ab(w, 1f, us, removedVt, OC, core.IC, r, true);
        }
    }
}
