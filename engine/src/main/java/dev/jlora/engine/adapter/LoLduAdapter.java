package dev.jlora.engine.adapter;

import dev.jlora.engine.linalg.Ldu;
import dev.jlora.quant.QuantMatrix;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * LoLDU (Shi, Wei, Wu, Ran, Sun, He and Yang 2024, "LoLDU: Low-Rank Adaptation via Lower-Diag-Upper Decomposition for
 * Parameter-Efficient Fine-Tuning", arXiv:2410.13618, §3 and Fig. 3): W = P·L·D·U (LDU with partial pivoting); the top-r
 * part P·L_r·D_r·U_r (first r columns of L, rows of U) is moved into the adapter, whose only trainable tensors are a
 * diagonal z [r] (initialised to D_r) and a scalar scale σ (initialised to 1): the layer computes
 * (W − P·L_r·D_r·U_r) + σ·P·L_r·diag(z)·U_r.
 *
 * <p>Instead of replacing the frozen base by the residual, this class keeps W and applies the algebraically identical
 * update ΔW = P·L_r·diag(σ·z − z₀)·U_r with z₀ = D_r frozen: zero at step 0, no re-quantization of a quantized base,
 * and a saved adapter is a delta on the original model like any other. L_r, U_r and z₀ depend on W, so they are
 * {@link #buffers()} saved with the adapter ({@code loldu_L} = P·L_r [OC × r], {@code loldu_U} = U_r [r × IC],
 * {@code loldu_diag_init} = z₀ [r]). Pivoted LDU: {@link Ldu}. Dropout applies to the adapter's input.
 */
public final class LoLduAdapter extends DroppedInputAdapter {
    private final int r;
    private final float[] lp, u, z0;
    private final Parameter z, sigma;

    /** h = xd·Uᵀ [T×r]. */
    private record Saved(InputDropout drop, float[] h) implements TrainableAdapter.Saved {}

    /** Buffers and parameters zero: fill by {@link #load} or use {@link #decompose}. */
    public LoLduAdapter(int inFeatures, int outFeatures, int rank, float dropout) {
        if (inFeatures <= 0 || outFeatures <= 0 || rank <= 0 || rank > Math.min(inFeatures, outFeatures)) {
            throw new IllegalArgumentException("LoLDU needs 0 < r ≤ min(IC, OC), got r=" + rank + " for "
                    + outFeatures + "×" + inFeatures);
        }
        super("LoLDU", inFeatures, outFeatures, dropout);
        this.r = rank;
        this.lp = new float[OC * r];
        this.u = new float[r * IC];
        this.z0 = new float[r];
        this.z = Parameter.zeros("loldu_diag", r);
        this.sigma = Parameter.zeros("loldu_scale", 1);
    }

    /** The adapter from the LDU of {@code base}: z = z₀ = D_r, σ = 1, so ΔW = 0 at step 0. */
    public static LoLduAdapter decompose(QuantMatrix base, int rank, float dropout) {
        int OC = base.rows(), IC = base.cols();
        var ad = new LoLduAdapter(IC, OC, rank, dropout);
        Ldu f = Ldu.decompose(AdapterInit.denseBase(base), OC, IC, rank);   // only the r steps LoLDU keeps
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
            ad.z0[j] = (float) f.d()[j];
        }
        System.arraycopy(ad.z0, 0, ad.z.value(), 0, rank);
        ad.sigma.value()[0] = 1f;
        return ad;
    }

    /** P·L_r·D_r·U_r [OC × IC]: the part of W the paper moves out of the base (ΔW₀ of its residual form). */
    public float[] principalPart() {
        float[] out = new float[OC * IC];
        float[] zl = new float[OC * r];
        for (int o = 0; o < OC; o++) {
            for (int j = 0; j < r; j++) {
                zl[o * r + j] = lp[o * r + j] * z0[j];
            }
        }
        SmallMatmul.ab(out, 1f, zl, u, OC, IC, r, false);
        return out;
    }

    /** c = σ·z − z₀, the effective diagonal of ΔW. */
    private float[] effectiveDiagonal() {
        float[] c = new float[r];
        float s = sigma.value()[0];
        for (int j = 0; j < r; j++) {
            c[j] = s * z.value()[j] - z0[j];
        }
        return c;
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
    public List<Parameter> parameters() {
        return List.of(z, sigma);
    }

    @Override
    public Map<String, float[]> buffers() {
        var m = new LinkedHashMap<String, float[]>();
        m.put("loldu_L", lp);
        m.put("loldu_U", u);
        m.put("loldu_diag_init", z0);
        return m;
    }

    @Override
    public Map<String, String> config() {
        return commonConfig(r);
    }

    /** h = xd·Uᵀ; y += (h ⊙ c)·Lpᵀ with c = σ·z − z₀. */
    @Override
    Saved run(InputDropout drop, int T, float[] y) {
        float[] h = new float[T * r];
        SmallMatmul.abt(h, drop.xd(), u, T, r, IC);
        float[] c = effectiveDiagonal();
        float[] g = new float[T * r];
        for (int t = 0; t < T; t++) {
            for (int j = 0; j < r; j++) {
                g[t * r + j] = h[t * r + j] * c[j];
            }
        }
        SmallMatmul.ab(y, 1f, g, transposedL(), T, OC, r, true);
        return new Saved(drop, h);
    }

    private float[] transposedL() {
        float[] lt = new float[r * OC];
        for (int o = 0; o < OC; o++) {
            for (int j = 0; j < r; j++) {
                lt[j * OC + o] = lp[o * r + j];
            }
        }
        return lt;
    }

    /** dg = dy·Lp; dc_j = Σ_t dg ⊙ h; dz += σ·dc; dσ += Σ_j z_j·dc_j; dx += drop'((dg ⊙ c)·U). */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("LoLDU backward needs the state its own forwardTrain returned, got " + saved);
        }
        float[] dg = new float[T * r];
        SmallMatmul.ab(dg, 1f, dy, lp, T, r, OC, false);
        float sg = sigma.value()[0];
        double dSigma = 0;
        for (int j = 0; j < r; j++) {
            float dc = 0f;
            for (int t = 0; t < T; t++) {
                dc += dg[t * r + j] * s.h()[t * r + j];
            }
            z.grad()[j] += sg * dc;
            dSigma += (double) z.value()[j] * dc;
        }
        sigma.grad()[0] += (float) dSigma;
        if (dx == null) {
            return;
        }
        float[] c = effectiveDiagonal();
        for (int t = 0; t < T; t++) {
            for (int j = 0; j < r; j++) {
                dg[t * r + j] *= c[j];
            }
        }
        LowRankPath.inputGradient(dg, u, s.drop(), T, r, IC, dx);
    }

    /** w += Lp·diag(σ·z − z₀)·U. */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        float[] c = effectiveDiagonal();
        float[] cl = new float[OC * r];
        for (int o = 0; o < OC; o++) {
            for (int j = 0; j < r; j++) {
                cl[o * r + j] = lp[o * r + j] * c[j];
            }
        }
        SmallMatmul.ab(w, 1f, cl, u, OC, IC, r, true);
    }
}
