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
 * at step 0), g ~ N(0, 1) ({@code torch.randn(1, r)}). Dropout applies to the adapter's input. The product itself is
 * {@link DiagonalLowRank}, shared with KaSA.
 */
public final class SoraAdapter implements TrainableAdapter {
    private final float alpha;
    private final DiagonalLowRank core;

    /** All tensors zero: fill by {@link #load} or {@link #init}. */
    public SoraAdapter(int inFeatures, int outFeatures, int rank, float alpha, float dropout) {
        if (!Float.isFinite(alpha) || alpha <= 0) {
            throw new IllegalArgumentException("SoRA alpha must be a positive number, got " + alpha);
        }
        this.alpha = alpha;
        this.core = new DiagonalLowRank("SoRA", inFeatures, outFeatures, rank, rank > 0 ? alpha / rank : 0, dropout,
                "sora_gate");
    }

    /** A ~ U(±1/√IC), B = 0, g ~ N(0, 1). */
    public void init(SplittableRandom rnd) {
        core.init(rnd);
    }

    public Parameter loraA() {
        return core.a;
    }

    public Parameter loraB() {
        return core.b;
    }

    /** g [r]. */
    public Parameter gate() {
        return core.d;
    }

    /** Components whose gate is not exactly 0: the rank of ΔW after the proximal steps pruned the rest. */
    public int activeRank() {
        int n = 0;
        for (float g : core.d.value()) {
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
        int r = core.r, IC = core.IC, OC = core.OC, rp = Math.max(1, activeRank());
        var lora = new LoraAdapter(IC, OC, rp, core.scale * rp, core.dropout, false);
        float[] g = core.d.value(), la = lora.loraA().value(), lb = lora.loraB().value();
        int k = 0;
        for (int j = 0; j < r; j++) {
            if (g[j] == 0) {
                continue;
            }
            for (int i = 0; i < IC; i++) {
                la[k * IC + i] = g[j] * core.a.value()[j * IC + i];
            }
            for (int o = 0; o < OC; o++) {
                lb[o * rp + k] = core.b.value()[o * r + j];
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
    public Map<String, String> config() {
        var c = new LinkedHashMap<String, String>();
        c.put("method", method());
        c.put("rank", Integer.toString(core.r));
        c.put("alpha", Float.toString(alpha));
        c.put("dropout", Float.toString(core.dropout));
        return c;
    }

    @Override
    public void forward(float[] x, int T, float[] y) {
        core.forward(x, T, y, 0, 0);
    }

    @Override
    public TrainableAdapter.Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed) {
        return core.forward(x, T, y, core.dropout, dropoutSeed);
    }

    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof DiagonalLowRank.Saved s)) {
            throw new IllegalArgumentException("SoRA backward needs the state its own forwardTrain returned, got " + saved);
        }
        core.backward(T, dy, s, dx);
    }

    /** w += s·Σ_{j: g_j ≠ 0} g_j·B[:, j]·A[j, :]: the pruned components are not part of ΔW. */
    @Override
    public void mergeInto(float[] w) {
        core.mergeInto(w);
    }
}
