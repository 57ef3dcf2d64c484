package dev.jlora.engine.adapter;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * SoRA (Ding, Lv, Wang, Chen, Liu, Zhao and Sun 2023, "Sparse Low-rank Adaptation of Pre-trained Language Models",
 * EMNLP 2023, arXiv:2311.11696, §3.1 Eq. (3)): LoRA with a gate vector g [r] between the down and up projections,
 * Δ(x) = s·B·(g ⊙ (A·drop(x))), s = alpha / r. The gate is made sparse during training by proximal gradient steps
 * (soft-thresholding after each optimizer step, {@code dynamics.SoraSparsity}); a component whose gate is exactly 0
 * no longer contributes, so the adapter's rank after training is the number of nonzero gates
 * ({@link #activeRank()}), and {@link #mergeInto} adds only those components.
 *
 * <p>Initialisation as the authors' {@code SoRALinear}: A {@code kaiming_uniform_(a=√5)} (U(±1/√IC)), B = 0 (ΔW = 0
 * at step 0), g ~ N(0, 1) ({@code torch.randn(1, r)}). Dropout applies to the adapter's input.
 */
public final class SoraAdapter implements TrainableAdapter {
    private final int IC, OC, r;
    private final float alpha, dropout, scale;
    private final Parameter a, b, gate;

    /** h = xd·Aᵀ [T×r] (before the gate). */
    private record Saved(InputDropout drop, float[] h) implements TrainableAdapter.Saved {}

    /** All tensors zero: fill by {@link #load} or {@link #init}. */
    public SoraAdapter(int inFeatures, int outFeatures, int rank, float alpha, float dropout) {
        if (inFeatures <= 0 || outFeatures <= 0 || rank <= 0) {
            throw new IllegalArgumentException("SoRA needs positive sizes, got IC=" + inFeatures + " OC=" + outFeatures
                    + " r=" + rank);
        }
        if (!Float.isFinite(alpha) || alpha <= 0) {
            throw new IllegalArgumentException("SoRA alpha must be a positive number, got " + alpha);
        }
        InputDropout.checkRate("SoRA", dropout);
        this.IC = inFeatures;
        this.OC = outFeatures;
        this.r = rank;
        this.alpha = alpha;
        this.dropout = dropout;
        this.scale = alpha / rank;
        this.a = Parameter.zeros("lora_A", r, IC);
        this.b = Parameter.zeros("lora_B", OC, r);
        this.gate = Parameter.zeros("sora_gate", r);
    }

    /** A ~ U(±1/√IC), B = 0, g ~ N(0, 1). */
    public void init(SplittableRandom rnd) {
        double bound = 1 / Math.sqrt(IC);
        float[] av = a.value();
        for (int i = 0; i < av.length; i++) {
            av[i] = (float) ((rnd.nextDouble() * 2 - 1) * bound);
        }
        java.util.Arrays.fill(b.value(), 0f);
        float[] g = gate.value();
        for (int j = 0; j < r; j++) {
            g[j] = (float) PissaInit.gaussian(rnd);
        }
    }

    public Parameter loraA() {
        return a;
    }

    public Parameter loraB() {
        return b;
    }

    /** g [r]. */
    public Parameter gate() {
        return gate;
    }

    /** Components whose gate is not exactly 0: the rank of ΔW after the proximal steps pruned the rest. */
    public int activeRank() {
        int n = 0;
        for (float g : gate.value()) {
            n += g != 0 ? 1 : 0;
        }
        return n;
    }

    /**
     * The adapter after pruning, as the paper deploys it: a plain LoRA of rank = {@link #activeRank()} with the gates
     * folded into A (A'_k = g_j·A_j over the nonzero g_j, B'_k = B_j) and alpha = s·r' so that the scale s is kept;
     * ΔW is identical. All gates pruned gives a rank-1 LoRA of zeros (ΔW = 0; a LoRA cannot have rank 0).
     */
    public LoraAdapter prunedLora() {
        int rp = Math.max(1, activeRank());
        var lora = new LoraAdapter(IC, OC, rp, scale * rp, dropout, false);
        float[] g = gate.value(), la = lora.loraA().value(), lb = lora.loraB().value();
        int k = 0;
        for (int j = 0; j < r; j++) {
            if (g[j] == 0) {
                continue;
            }
            for (int i = 0; i < IC; i++) {
                la[k * IC + i] = g[j] * a.value()[j * IC + i];
            }
            for (int o = 0; o < OC; o++) {
                lb[o * rp + k] = b.value()[o * r + j];
            }
            k++;
        }
        return lora;
    }

    @Override
    public String method() {
        return "sora";
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
        return List.of(a, b, gate);
    }

    @Override
    public Map<String, String> config() {
        var c = new LinkedHashMap<String, String>();
        c.put("method", method());
        c.put("rank", Integer.toString(r));
        c.put("alpha", Float.toString(alpha));
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

    /** h = xd·Aᵀ; y += s·(h ⊙ g)·Bᵀ. */
    private Saved run(InputDropout drop, int T, float[] y) {
        float[] h = new float[T * r];
        SmallMatmul.abt(h, drop.xd(), a.value(), T, r, IC);
        SmallMatmul.abtAcc(y, scale, gated(h, T), b.value(), T, OC, r);
        return new Saved(drop, h);
    }

    private float[] gated(float[] h, int T) {
        float[] hg = new float[T * r];
        float[] g = gate.value();
        for (int t = 0; t < T; t++) {
            for (int j = 0; j < r; j++) {
                hg[t * r + j] = h[t * r + j] * g[j];
            }
        }
        return hg;
    }

    /** dB += s·dyᵀ·(h ⊙ g); dk = s·dy·B; dg_j += Σ_t dk_j·h_j; dA += (dk ⊙ g)ᵀ·xd; dx += drop'((dk ⊙ g)·A). */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("SoRA backward needs the state its own forwardTrain returned, got " + saved);
        }
        SmallMatmul.atbAcc(b.grad(), scale, dy, gated(s.h(), T), T, OC, r);
        float[] dk = new float[T * r];
        SmallMatmul.ab(dk, scale, dy, b.value(), T, r, OC, false);
        float[] g = gate.value(), dg = gate.grad();
        for (int j = 0; j < r; j++) {
            float acc = 0f;
            for (int t = 0; t < T; t++) {
                acc += dk[t * r + j] * s.h()[t * r + j];
            }
            dg[j] += acc;
        }
        float[] dh = gated(dk, T);
        SmallMatmul.atbAcc(a.grad(), 1f, dh, s.drop().xd(), T, r, IC);
        if (dx == null) {
            return;
        }
        float[] dxd = new float[T * IC];
        SmallMatmul.ab(dxd, 1f, dh, a.value(), T, IC, r, false);
        s.drop().backward(dxd, dx);
    }

    /** w += s·Σ_{j: g_j ≠ 0} g_j·B[:, j]·A[j, :]: the pruned components are not part of ΔW. */
    @Override
    public void mergeInto(float[] w) {
        if (w.length != OC * IC) {
            throw new IllegalArgumentException("merge target has " + w.length + " elements, expected OC×IC = " + OC + "×" + IC);
        }
        float[] g = gate.value(), av = a.value(), bv = b.value();
        for (int j = 0; j < r; j++) {
            if (g[j] == 0) {
                continue;
            }
            for (int o = 0; o < OC; o++) {
                float c = scale * g[j] * bv[o * r + j];
                for (int i = 0; i < IC; i++) {
                    w[o * IC + i] += c * av[j * IC + i];
                }
            }
        }
    }
}
