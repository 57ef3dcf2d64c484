package dev.jlora.engine.adapter;

import dev.jlora.quant.QuantMatrix;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * DoRA (Liu et al. 2024, "DoRA: Weight-Decomposed Low-Rank Adaptation", ICML 2024, arXiv:2402.09353, §4.1 Eq. (5)):
 * W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖_c, a trainable magnitude m times a direction updated by LoRA.
 *
 * <p>Conventions follow PEFT's {@code DoraLinearLayer}: W is [OC × IC] and the norm is taken per output row
 * (PEFT's {@code weight_norm} over dim=1, the paper's column norm of the transposed [IC × OC] weight); m [OC] starts
 * at ‖W‖ per row, so W' = W at step 0 (B = 0); the norm is <b>detached</b> in backward, as §4.3 of the paper
 * proposes ("treat ‖V + ΔV‖_c as a constant") to save memory and as PEFT implements, so gradients reach m, A and B
 * through the numerator only. Dropout (PEFT) applies to the adapter's input for both terms.
 *
 * <p>As an additive update on y = x·Wᵀ: Δ(x) = (m/n − 1) ⊙ (xd·Wᵀ) + (m/n) ⊙ s·(xd·Aᵀ)·Bᵀ with n = ‖W + s·B·A‖ per row.
 * Needs the frozen base W: it keeps the {@link QuantMatrix}, reads each row once for ‖W_o‖, and otherwise only
 * calls its matmul (for xd·Wᵀ and W·Aᵀ), never materialising the fp32 W. The base must be the weight the model uses (DoRA cannot sit on a residual
 * base from another initialisation unless built on it).
 */
public final class DoraAdapter extends DroppedInputAdapter {
    private final int r;
    private final float alpha, scale;
    private final boolean rsLora;
    private final QuantMatrix base;
    private final double[] baseRowNormSq;   // ‖W[o,:]‖², computed once: W is frozen
    private final Parameter a, b, m;

    /** xd (and mask), h = xd·Aᵀ [T×r], base = xd·Wᵀ [T×OC], lora = h·Bᵀ [T×OC] unscaled, n [OC] (detached). */
    private record Saved(InputDropout drop, float[] h, float[] baseOut, float[] loraOut, float[] n)
            implements TrainableAdapter.Saved {}

    /** Factors zero, m zero: call {@link #create} or set values before use. */
    public DoraAdapter(QuantMatrix base, int rank, float alpha, float dropout, boolean rsLora) {
        new LoraConfig(rank, alpha, dropout, rsLora, java.util.Set.of(Target.Q)); // validates the hyperparameters
        this.base = base;
        super("DoRA", base.cols(), base.rows(), dropout);
        this.r = rank;
        this.alpha = alpha;
        this.rsLora = rsLora;
        this.scale = rsLora ? (float) (alpha / Math.sqrt(rank)) : alpha / rank;
        this.a = Parameter.zeros("lora_A", r, IC);
        this.b = Parameter.zeros("lora_B", OC, r);
        this.m = Parameter.zeros("lora_magnitude_vector", OC);
        this.baseRowNormSq = new double[OC];
        float[] row = new float[IC];
        for (int o = 0; o < OC; o++) {
            base.dequantizeRow(o, row, 0);
            double ss = 0;
            for (float v : row) {
                ss += (double) v * v;
            }
            baseRowNormSq[o] = ss;
        }
    }

    /**
     * DoRA on {@code base} with A, B from a non-replacing {@code init} (PEFT default: Kaiming A, zero B) and
     * m = ‖W + s·B·A‖ per row (= ‖W‖ when B = 0).
     */
    public static DoraAdapter create(QuantMatrix base, LoraConfig cfg, AdapterInit init, SplittableRandom rnd) {
        if (init.replacesBase()) {
            throw new IllegalArgumentException("DoRA with init '" + init.name()
                    + "' replaces the base weight: build it on the stored residual with DoraAdapter.onResidual");
        }
        var d = new DoraAdapter(base, cfg.rank(), cfg.alpha(), cfg.dropout(), cfg.rsLora());
        var f = init.init(base, cfg.rank(), d.scale, rnd);
        System.arraycopy(f.a(), 0, d.a.value(), 0, f.a().length);
        System.arraycopy(f.b(), 0, d.b.value(), 0, f.b().length);
        System.arraycopy(d.rowNorms(), 0, d.m.value(), 0, d.OC);
        return d;
    }

    /**
     * DoRA on a residual base (PiSSA, OLoRA: W_res = W − s·B·A, as stored in the base's type) with the init's A and B
     * and m = ‖W_res + s·B·A‖ per row, so that W' = W_res + s·B·A at step 0: the original W up to the
     * re-quantization of the residual.
     */
    public static DoraAdapter onResidual(QuantMatrix storedResidual, LoraConfig cfg, float[] a, float[] b) {
        var d = new DoraAdapter(storedResidual, cfg.rank(), cfg.alpha(), cfg.dropout(), cfg.rsLora());
        System.arraycopy(a, 0, d.a.value(), 0, d.a.value().length);
        System.arraycopy(b, 0, d.b.value(), 0, d.b.value().length);
        System.arraycopy(d.rowNorms(), 0, d.m.value(), 0, d.OC);
        return d;
    }

    public Parameter loraA() {
        return a;
    }

    public Parameter loraB() {
        return b;
    }

    /** m [OC]. */
    public Parameter magnitude() {
        return m;
    }

    public float scale() {
        return scale;
    }

    @Override
    public String method() {
        return "dora";
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(a, b, m);
    }

    @Override
    public Map<String, String> config() {
        var c = commonConfig(r, alpha);
        c.put("rs_lora", Boolean.toString(rsLora));
        return c;
    }

    /**
     * n_o = ‖W[o,:] + s·(B·A)[o,:]‖₂ for every row, from the current A and B, without materialising W or B·A:
     * n_o² = ‖W_o‖² + 2s·Σ_j B[o,j]·(W·Aᵀ)[o,j] + s²·B_o·(A·Aᵀ)·B_oᵀ, with W·Aᵀ from the base's own (quantized)
     * matmul and ‖W_o‖² precomputed. O(OC·IC·r) in the fast kernel plus O(r²·(IC + OC)), summed in float64.
     */
    float[] rowNorms() {
        float[] av = a.value(), bv = b.value();
        float[] aw = new float[r * OC];                   // row j: (W·A_jᵀ)ᵀ, i.e. A_j as one "token" through W
        base.matmul(av, r, aw);
        double[] g = new double[r * r];                   // A·Aᵀ
        for (int j = 0; j < r; j++) {
            for (int k = j; k < r; k++) {
                double acc = 0;
                for (int i = 0; i < IC; i++) {
                    acc += (double) av[j * IC + i] * av[k * IC + i];
                }
                g[j * r + k] = acc;
                g[k * r + j] = acc;
            }
        }
        float[] n = new float[OC];
        for (int o = 0; o < OC; o++) {
            double cross = 0, quad = 0;
            for (int j = 0; j < r; j++) {
                double bj = bv[o * r + j];
                cross += bj * aw[j * OC + o];
                double gb = 0;
                for (int k = 0; k < r; k++) {
                    gb += g[j * r + k] * bv[o * r + k];
                }
                quad += bj * gb;
            }
            n[o] = (float) Math.sqrt(Math.max(0, baseRowNormSq[o] + 2 * scale * cross + (double) scale * scale * quad));
        }
        return n;
    }

    @Override
    Saved run(InputDropout drop, int T, float[] y) {
        float[] h = new float[T * r];
        SmallMatmul.abt(h, drop.xd(), a.value(), T, r, IC);
        float[] loraOut = new float[T * OC];
        SmallMatmul.abt(loraOut, h, b.value(), T, OC, r);
        float[] baseOut = new float[T * OC];
        base.matmul(drop.xd(), T, baseOut);
        float[] n = rowNorms();
        float[] mv = m.value();
        for (int o = 0; o < OC; o++) {
            if (n[o] == 0) {
                throw new ArithmeticException("DoRA: row " + o + " of W + s·B·A has norm 0; the direction is undefined");
            }
        }
        for (int t = 0; t < T; t++) {
            for (int o = 0; o < OC; o++) {
                float g = mv[o] / n[o];
                int i = t * OC + o;
                y[i] += (g - 1) * baseOut[i] + g * scale * loraOut[i];
            }
        }
        return new Saved(drop, h, baseOut, loraOut, n);
    }

    /**
     * With n held constant (detached): dm_o += Σ_t dy·(base + s·lora)/n_o; d(lora) = dy ⊙ s·m/n gives
     * dB += d(lora)ᵀ·h, dh = d(lora)·B, dA += dhᵀ·xd; dxd = dh·A + ((m/n − 1) ⊙ dy)·W; dx += drop'(dxd).
     */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("DoRA backward needs the state its own forwardTrain returned, got " + saved);
        }
        float[] mv = m.value(), n = s.n();
        float[] dLora = new float[T * OC];
        float[] dBase = dx == null ? null : new float[T * OC];
        float[] dm = m.grad();
        for (int o = 0; o < OC; o++) {
            float g = mv[o] / n[o];
            float acc = 0f;
            for (int t = 0; t < T; t++) {
                int i = t * OC + o;
                acc += dy[i] * (s.baseOut()[i] + scale * s.loraOut()[i]);
                dLora[i] = dy[i] * g * scale;
                if (dBase != null) {
                    dBase[i] = dy[i] * (g - 1);
                }
            }
            dm[o] += acc / n[o];
        }
        SmallMatmul.atbAcc(b.grad(), 1f, dLora, s.h(), T, OC, r);
        float[] dh = new float[T * r];
        SmallMatmul.ab(dh, 1f, dLora, b.value(), T, r, OC, false);
        SmallMatmul.atbAcc(a.grad(), 1f, dh, s.drop().xd(), T, r, IC);
        if (dx == null) {
            return;
        }
        float[] dxd = new float[T * IC];
        SmallMatmul.ab(dxd, 1f, dh, a.value(), T, IC, r, false);
        base.matmulBackwardInput(dBase, T, dxd);
        s.drop().backward(dxd, dx);
    }

    /**
     * w ← (m/n) ⊙ (w + s·B·A) row by row. w must hold the dense base this adapter was built on (the contract's
     * "w += ΔW" with ΔW = W' − W); n is computed from that base.
     */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        float[] n = rowNorms();
        SmallMatmul.ab(w, scale, b.value(), a.value(), OC, IC, r, true);
        float[] mv = m.value();
        for (int o = 0; o < OC; o++) {
            float g = mv[o] / n[o];
            for (int i = 0; i < IC; i++) {
                w[o * IC + i] *= g;
            }
        }
    }
}
