package dev.jlora.engine.adapter;

import dev.jlora.engine.linalg.Svd;
import dev.jlora.quant.QuantMatrix;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * SALT (Elsayed, Hashmi, Elseiagy, Wang, Yaqub and Almakky 2025, "SALT: Singular Value Adaptation with Low-Rank
 * Transformation", arXiv:2503.16055, §2): with the full SVD W = U·Σ·Vᵀ (k = min(OC, IC) components), the r largest
 * singular values get a trainable scale α and shift β, σ'_j = α_j·σ_j + β_j, and the remaining k − r get a low-rank
 * update of their block of the singular-value matrix, Σ'_rest = Σ_rest + X·Y with X [(k−r) × r_lora],
 * Y [r_lora × (k−r)]; the layer uses W' = U·ReLU(Σ')·Vᵀ. The paper leaves the placement of the ReLU open; as the
 * authors' {@code SALTLinear} it is applied elementwise to the whole new Σ' (keeping singular values ≥ 0), and
 * initialisation is theirs too: α = 1, β = 0, X, Y ~ N(0, 0.01²) (so ΔW is small but not 0 at step 0).
 *
 * <p>Implemented as an update on the frozen W (which stays as it is): ΔW = U·(ReLU(Σ') − Σ)·Vᵀ, applied as
 * x ↦ U·D·(Vᵀ·x). U, Σ, V come from the float64 one-sided Jacobi SVD ({@link Svd#jacobi}) of the dequantized base,
 * recomputed when a saved adapter is loaded onto the same base (deterministic), so the file holds only α, β, X, Y.
 * Cost: the SVD is O(OC·IC·k) per sweep (milliseconds for stories-size layers, minutes for 4096² ones), U and V take
 * (OC + IC)·k floats per layer, and a forward adds two dense products of W's size — SALT is a full-rank method.
 * Dropout applies to the adapter's input.
 */
public final class SaltAdapter extends LinearLayerAdapter {
    private final int k, r, rLora;
    private final float dropout;
    private final float[] u, sigma, vt;
    private final Parameter scale, shift, x, y;

    /** p = xd·V [T × k]. */
    private record Saved(InputDropout drop, float[] p) implements TrainableAdapter.Saved {}

    /** Decomposes {@code base}; parameters at α = 1, β = 0, X = Y = 0 (call {@link #init} or {@link #load}). */
    public SaltAdapter(QuantMatrix base, int rank, int loraRank, float dropout) {
        super("SALT", base.cols(), base.rows());
        this.k = Math.min(OC, IC);
        if (rank <= 0 || rank >= k || loraRank <= 0 || loraRank > k - rank) {
            throw new IllegalArgumentException("SALT needs 0 < rank < min(OC, IC) and 0 < r_lora ≤ min(OC, IC) − rank, "
                    + "got rank=" + rank + " r_lora=" + loraRank + " for " + OC + "×" + IC);
        }
        InputDropout.checkRate("SALT", dropout);
        this.r = rank;
        this.rLora = loraRank;
        this.dropout = dropout;
        Svd svd = Svd.jacobi(AdapterInit.denseBase(base), OC, IC);
        this.u = AdapterInit.toFloats(svd.u());
        this.sigma = AdapterInit.toFloats(svd.s());
        this.vt = AdapterInit.toFloats(svd.vt());
        this.scale = Parameter.zeros("salt_scale", r);
        this.shift = Parameter.zeros("salt_shift", r);
        this.x = Parameter.zeros("salt_X", k - r, rLora);
        this.y = Parameter.zeros("salt_Y", rLora, k - r);
        java.util.Arrays.fill(scale.value(), 1f);
    }

    /** α = 1, β = 0, X, Y ~ N(0, 0.01²) ({@code torch.randn(...) * 0.01}). */
    public void init(SplittableRandom rnd) {
        java.util.Arrays.fill(scale.value(), 1f);
        java.util.Arrays.fill(shift.value(), 0f);
        for (Parameter p : List.of(x, y)) {
            for (int i = 0; i < p.size(); i++) {
                p.value()[i] = (float) (0.01 * PissaInit.gaussian(rnd));
            }
        }
    }

    /** U [OC × k], Σ [k], Vᵀ [k × IC] of the base (frozen). */
    public float[] u() {
        return u;
    }

    public float[] sigma() {
        return sigma;
    }

    public float[] vt() {
        return vt;
    }

    public Parameter scale() {
        return scale;
    }

    public Parameter shift() {
        return shift;
    }

    public Parameter loraX() {
        return x;
    }

    public Parameter loraY() {
        return y;
    }

    @Override
    public String method() {
        return "salt";
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(scale, shift, x, y);
    }

    @Override
    public Map<String, String> config() {
        var c = new LinkedHashMap<String, String>();
        c.put("method", method());
        c.put("rank", Integer.toString(r));
        c.put("r_lora", Integer.toString(rLora));
        c.put("dropout", Float.toString(dropout));
        return c;
    }

    /** c_j = ReLU(α_j·σ_j + β_j) − σ_j for the top r. */
    private float[] topChange() {
        float[] c = new float[r];
        for (int j = 0; j < r; j++) {
            c[j] = Math.max(0f, scale.value()[j] * sigma[j] + shift.value()[j]) - sigma[j];
        }
        return c;
    }

    /** Z = diag(σ_rest) + X·Y [K × K], K = k − r. */
    private float[] restMatrix() {
        int K = k - r;
        float[] z = new float[K * K];
        SmallMatmul.ab(z, 1f, x.value(), y.value(), K, K, rLora, false);
        for (int a = 0; a < K; a++) {
            z[a * K + a] += sigma[r + a];
        }
        return z;
    }

    /** D_rest = ReLU(Z) − diag(σ_rest). */
    private float[] restChange(float[] z) {
        int K = k - r;
        float[] d = new float[K * K];
        for (int a = 0; a < K; a++) {
            for (int b = 0; b < K; b++) {
                d[a * K + b] = Math.max(0f, z[a * K + b]) - (a == b ? sigma[r + a] : 0f);
            }
        }
        return d;
    }

    @Override
    public void forward(float[] xIn, int T, float[] yOut) {
        run(InputDropout.apply(xIn, T * IC, 0, 0), T, yOut);
    }

    @Override
    public TrainableAdapter.Saved forwardTrain(float[] xIn, int T, float[] yOut, long dropoutSeed) {
        return run(InputDropout.apply(xIn, T * IC, dropout, dropoutSeed), T, yOut);
    }

    /** p = xd·V; q = p·D̃ᵀ with D̃ = blockdiag(diag(c), D_rest); y += q·Uᵀ. */
    private Saved run(InputDropout drop, int T, float[] out) {
        float[] p = new float[T * k];
        SmallMatmul.abt(p, drop.xd(), vt, T, k, IC);
        float[] q = applyChange(p, T, topChange(), restChange(restMatrix()), false);
        SmallMatmul.abtAcc(out, 1f, q, u, T, OC, k);
        return new Saved(drop, p);
    }

    /** Rows of v [T × k] times D̃ᵀ (or D̃ when {@code transposed}). */
    private float[] applyChange(float[] v, int T, float[] c, float[] d, boolean transposed) {
        int K = k - r;
        float[] q = new float[T * k];
        for (int t = 0; t < T; t++) {
            for (int j = 0; j < r; j++) {
                q[t * k + j] = c[j] * v[t * k + j];
            }
            for (int a = 0; a < K; a++) {
                float s = 0f;
                for (int b = 0; b < K; b++) {
                    s += (transposed ? d[b * K + a] : d[a * K + b]) * v[t * k + r + b];
                }
                q[t * k + r + a] = s;
            }
        }
        return q;
    }

    /**
     * dq = dy·U; top: dα_j += [z_j > 0]·σ_j·Σ_t dq_j·p_j, dβ_j += [z_j > 0]·Σ_t dq_j·p_j; rest: dZ = (dq_restᵀ·p_rest) ⊙
     * [Z > 0], dX += dZ·Yᵀ, dY += Xᵀ·dZ; dx += drop'((dq·D̃)·Vᵀ).
     */
    @Override
    public void backward(float[] xIn, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("SALT backward needs the state its own forwardTrain returned, got " + saved);
        }
        int K = k - r;
        float[] p = s.p();
        float[] dq = new float[T * k];
        SmallMatmul.ab(dq, 1f, dy, u, T, k, OC, false);
        for (int j = 0; j < r; j++) {
            float z = scale.value()[j] * sigma[j] + shift.value()[j];
            if (z <= 0) {
                continue;
            }
            float dc = 0f;
            for (int t = 0; t < T; t++) {
                dc += dq[t * k + j] * p[t * k + j];
            }
            scale.grad()[j] += sigma[j] * dc;
            shift.grad()[j] += dc;
        }
        float[] zm = restMatrix();
        float[] dz = new float[K * K];
        for (int t = 0; t < T; t++) {
            for (int a = 0; a < K; a++) {
                float g = dq[t * k + r + a];
                for (int b = 0; b < K; b++) {
                    dz[a * K + b] += g * p[t * k + r + b];
                }
            }
        }
        for (int i = 0; i < dz.length; i++) {
            if (zm[i] <= 0) {
                dz[i] = 0;
            }
        }
        SmallMatmul.abtAcc(x.grad(), 1f, dz, y.value(), K, rLora, K);                // dZ·Yᵀ
        float[] xt = new float[rLora * K];
        for (int a = 0; a < K; a++) {
            for (int l = 0; l < rLora; l++) {
                xt[l * K + a] = x.value()[a * rLora + l];
            }
        }
        SmallMatmul.ab(y.grad(), 1f, xt, dz, rLora, K, K, true);                       // Xᵀ·dZ
        if (dx == null) {
            return;
        }
        float[] dp = applyChange(dq, T, topChange(), restChange(zm), true);
        float[] dxd = new float[T * IC];
        SmallMatmul.ab(dxd, 1f, dp, vt, T, IC, k, false);
        s.drop().backward(dxd, dx);
    }

    /** w += U·D̃·Vᵀ. */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        float[] ud = applyChange(u, OC, topChange(), restChange(restMatrix()), true);   // rows of U times D̃
        SmallMatmul.ab(w, 1f, ud, vt, OC, IC, k, true);
    }
}
