package dev.jlora.engine.adapter;

import dev.jlora.engine.linalg.Ldu;
import dev.jlora.quant.QuantMatrix;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * LoLDU (Shi, Wei, Wu, Ran, Sun, He and Yang 2024, "LoLDU: Low-Rank Adaptation via Lower-Diag-Upper Decomposition for
 * Parameter-Efficient Fine-Tuning", arXiv:2410.13618, §3 and Fig. 3): W = P·L·D·U (LDU with partial pivoting); the top-r
 * part P·L_r·D_r·U_r (first r columns of L, rows of U) becomes the adapter, W − P·L_r·D_r·U_r the frozen residual base,
 * and only a diagonal z [r] (initialised to D_r) and a scalar scale σ (initialised to 1) train:
 * ΔW = σ·(P·L_r)·diag(z)·U_r, equal to the removed part at step 0. L_r and U_r are frozen and depend on W, so they
 * are {@link #buffers()} saved with the adapter ({@code loldu_L} = P·L_r [OC × r], {@code loldu_U} = U_r [r × IC]).
 * Pivoted LDU: {@link Ldu}. Dropout applies to the adapter's input.
 */
public final class LoLduAdapter implements TrainableAdapter {
    private final int IC, OC, r;
    private final float dropout;
    private final float[] lp, u;
    private final Parameter z, sigma;

    /** h = xd·Uᵀ [T×r], v = (h ⊙ z)·Lpᵀ [T×OC] (unscaled). */
    private record Saved(InputDropout drop, float[] h, float[] v) implements TrainableAdapter.Saved {}

    /** Buffers and parameters zero: fill by {@link #load} or use {@link #decompose}. */
    public LoLduAdapter(int inFeatures, int outFeatures, int rank, float dropout) {
        if (inFeatures <= 0 || outFeatures <= 0 || rank <= 0 || rank > Math.min(inFeatures, outFeatures)) {
            throw new IllegalArgumentException("LoLDU needs 0 < r ≤ min(IC, OC), got r=" + rank + " for "
                    + outFeatures + "×" + inFeatures);
        }
        InputDropout.checkRate("LoLDU", dropout);
        this.IC = inFeatures;
        this.OC = outFeatures;
        this.r = rank;
        this.dropout = dropout;
        this.lp = new float[OC * r];
        this.u = new float[r * IC];
        this.z = Parameter.zeros("loldu_diag", r);
        this.sigma = Parameter.zeros("loldu_scale", 1);
    }

    /** The adapter from the LDU of {@code base} and the residual base W − P·L_r·D_r·U_r it leaves (dense fp32). */
    public static ResidualAdapterFactory.Created decompose(QuantMatrix base, int rank, float dropout) {
        int OC = base.rows(), IC = base.cols();
        var ad = new LoLduAdapter(IC, OC, rank, dropout);
        double[] w = AdapterInit.denseBase(base);
        Ldu f = Ldu.decompose(w, OC, IC);
        int k = f.k();
        for (int i = 0; i < OC; i++) {
            int row = f.perm()[i];           // row i of P·W is row perm[i] of W: Pᵀ·L puts L's row i at perm[i]
            for (int j = 0; j < rank; j++) {
                ad.lp[row * rank + j] = (float) f.l()[i * k + j];
            }
        }
        for (int j = 0; j < rank; j++) {
            for (int c = 0; c < IC; c++) {
                ad.u[j * IC + c] = (float) f.u()[j * IC + c];
            }
            ad.z.value()[j] = (float) f.d()[j];
        }
        ad.sigma.value()[0] = 1f;
        float[] zl = new float[OC * rank];
        for (int o = 0; o < OC; o++) {
            for (int j = 0; j < rank; j++) {
                zl[o * rank + j] = ad.lp[o * rank + j] * ad.z.value()[j];
            }
        }
        return new ResidualAdapterFactory.Created(ad, AdapterInit.residual(w, zl, ad.u, 1, OC, IC, rank));
    }

    public Parameter diagonal() {
        return z;
    }

    public Parameter scaleParameter() {
        return sigma;
    }

    @Override
    public String method() {
        return "loldu";
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
        return List.of(z, sigma);
    }

    @Override
    public Map<String, float[]> buffers() {
        var m = new LinkedHashMap<String, float[]>();
        m.put("loldu_L", lp);
        m.put("loldu_U", u);
        return m;
    }

    @Override
    public Map<String, String> config() {
        var c = new LinkedHashMap<String, String>();
        c.put("method", method());
        c.put("rank", Integer.toString(r));
        c.put("dropout", Float.toString(dropout));
        return c;
    }

    @Override
    public void forward(float[] x, int T, float[] y) {
        run(InputDropout.apply(x, T * IC, 0, 0), T, y);
    }

    @Override
    public TrainableAdapter.Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed) {
        return run(InputDropout.apply(x, T * IC, dropout, dropoutSeed), T, y);
    }

    /** h = xd·Uᵀ; v = (h ⊙ z)·Lpᵀ; y += σ·v. */
    private Saved run(InputDropout drop, int T, float[] y) {
        float[] h = new float[T * r];
        SmallMatmul.abt(h, drop.xd(), u, T, r, IC);
        float[] g = new float[T * r];
        for (int t = 0; t < T; t++) {
            for (int j = 0; j < r; j++) {
                g[t * r + j] = h[t * r + j] * z.value()[j];
            }
        }
        float[] v = new float[T * OC];
        SmallMatmul.abt(v, g, lp, T, OC, r);
        float s = sigma.value()[0];
        for (int i = 0; i < v.length; i++) {
            y[i] += s * v[i];
        }
        return new Saved(drop, h, v);
    }

    /** dσ += Σ dy ⊙ v; dg = σ·dy·Lp; dz += Σ_t dg ⊙ h; dh = dg ⊙ z; dx += drop'(dh·U). */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("LoLDU backward needs the state its own forwardTrain returned, got " + saved);
        }
        double ds = 0;
        for (int i = 0; i < s.v().length; i++) {
            ds += dy[i] * s.v()[i];
        }
        sigma.grad()[0] += (float) ds;
        float[] dg = new float[T * r];
        SmallMatmul.ab(dg, sigma.value()[0], dy, lp, T, r, OC, false);
        for (int j = 0; j < r; j++) {
            float acc = 0f;
            for (int t = 0; t < T; t++) {
                acc += dg[t * r + j] * s.h()[t * r + j];
            }
            z.grad()[j] += acc;
        }
        if (dx == null) {
            return;
        }
        for (int t = 0; t < T; t++) {
            for (int j = 0; j < r; j++) {
                dg[t * r + j] *= z.value()[j];
            }
        }
        float[] dxd = new float[T * IC];
        SmallMatmul.ab(dxd, 1f, dg, u, T, IC, r, false);
        s.drop().backward(dxd, dx);
    }

    /** w += σ·Lp·diag(z)·U. */
    @Override
    public void mergeInto(float[] w) {
        if (w.length != OC * IC) {
            throw new IllegalArgumentException("merge target has " + w.length + " elements, expected OC×IC = " + OC + "×" + IC);
        }
        float[] zl = new float[OC * r];
        for (int o = 0; o < OC; o++) {
            for (int j = 0; j < r; j++) {
                zl[o * r + j] = lp[o * r + j] * z.value()[j];
            }
        }
        SmallMatmul.ab(w, sigma.value()[0], zl, u, OC, IC, r, true);
    }
}
