package dev.jlora.engine.adapter;

import dev.jlora.quant.QuantMatrix;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Hydra (Kim, Yang, Kim, Hong and Park 2023, "Hydra: Multi-head Low-rank Adaptation for Parameter Efficient
 * Fine-tuning", arXiv:2309.06922, §3, the combined "parallel + sequential" module): a parallel low-rank branch on
 * the layer's input (LoRA) plus a sequential low-rank branch on the frozen layer's output, y = W·x + s·B_p·A_p·x + s·B_s·A_s·(W·x). It merges
 * exactly: W' = (I + s·B_s·A_s)·W + s·B_p·A_p (the paper's reparameterisation; {@code reparameterize} in the
 * reference implementation).
 *
 * <p>A_p [r × IC], B_p [OC × r], A_s [r × OC], B_s [OC × r]; both branches have rank r and the scale s = alpha / r
 * (alpha / √r with rs_lora). Initialisation as the reference implementation ({@code extremebird/Hydra},
 * {@code Hydra_layer}): down-projections A Xavier-uniform, up-projections B zero, so ΔW = 0 at step 0. The
 * reference's adapter biases are left out: jlora adapters merge into W only, and without them the update is the
 * paper's bias-free form.
 *
 * <p>The sequential branch needs W·x. The adapter keeps the frozen base ({@link QuantMatrix}) and computes W·xd
 * itself rather than reading the y it is handed: y also carries the layer's bias where the model has one (Qwen's
 * q/k/v), and W·x without the bias is what merges exactly into W. That costs one extra frozen matmul in forward and
 * one in backward (dx += Wᵀ·(s·A_sᵀ·B_sᵀ·dy)), as DoRA's base term does. Dropout, as in PEFT's LoRA, applies to the
 * adapter's input for both branches (the sequential branch sees W·drop(x)).
 */
public final class HydraAdapter extends DroppedInputAdapter {
    private final int r;
    private final float alpha, scale;
    private final boolean rsLora;
    private final QuantMatrix base;
    private final Parameter parA, parB, seqA, seqB;

    /** xd (and mask), baseOut = xd·Wᵀ [T×OC], hPar = xd·A_pᵀ [T×r], hSeq = baseOut·A_sᵀ [T×r]. */
    private record Saved(InputDropout drop, float[] baseOut, float[] hPar, float[] hSeq) implements TrainableAdapter.Saved {}

    /** All factors zero: call {@link #create} or load values before use. */
    public HydraAdapter(QuantMatrix base, int rank, float alpha, float dropout, boolean rsLora) {
        new LoraConfig(rank, alpha, dropout, rsLora, java.util.Set.of(Target.Q)); // validates the hyperparameters
        this.base = base;
        super("Hydra", base.cols(), base.rows(), dropout);
        this.r = rank;
        this.alpha = alpha;
        this.rsLora = rsLora;
        this.scale = rsLora ? (float) (alpha / Math.sqrt(rank)) : alpha / rank;
        this.parA = Parameter.zeros("hydra_par_A", r, IC);
        this.parB = Parameter.zeros("hydra_par_B", OC, r);
        this.seqA = Parameter.zeros("hydra_seq_A", r, OC);
        this.seqB = Parameter.zeros("hydra_seq_B", OC, r);
    }

    /** Hydra on {@code base} with the reference initialisation: A_p, A_s Xavier-uniform from {@code rnd}, B_p = B_s = 0. */
    public static HydraAdapter create(QuantMatrix base, LoraConfig cfg, SplittableRandom rnd) {
        var h = new HydraAdapter(base, cfg.rank(), cfg.alpha(), cfg.dropout(), cfg.rsLora());
        xavierUniform(h.parA.value(), h.IC, h.r, rnd);
        xavierUniform(h.seqA.value(), h.OC, h.r, rnd);
        return h;
    }

    /** U(−√(6/(fan_in + fan_out)), +√(6/(fan_in + fan_out))): PyTorch {@code nn.init.xavier_uniform_}. */
    private static void xavierUniform(float[] w, int fanIn, int fanOut, SplittableRandom rnd) {
        double bound = Math.sqrt(6.0 / (fanIn + fanOut));
        RandomInit.fillUniform(w, bound, rnd);
    }

    /** A_p [r × IC]. */
    public Parameter parallelA() {
        return parA;
    }

    /** B_p [OC × r]. */
    public Parameter parallelB() {
        return parB;
    }

    /** A_s [r × OC]: reads the frozen layer's output. */
    public Parameter sequentialA() {
        return seqA;
    }

    /** B_s [OC × r]. */
    public Parameter sequentialB() {
        return seqB;
    }

    public float scale() {
        return scale;
    }

    @Override
    public String method() {
        return "hydra";
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(parA, parB, seqA, seqB);
    }

    @Override
    public Map<String, String> config() {
        var c = commonConfig(r, alpha);
        c.put("rs_lora", Boolean.toString(rsLora));
        return c;
    }

    /** baseOut = xd·Wᵀ; hPar = xd·A_pᵀ; hSeq = baseOut·A_sᵀ; y += s·(hPar·B_pᵀ + hSeq·B_sᵀ). */
    @Override
    Saved run(InputDropout drop, int T, float[] y) {
        float[] baseOut = new float[T * OC];
        base.matmul(drop.xd(), T, baseOut);
        float[] hPar = new float[T * r], hSeq = new float[T * r];
        SmallMatmul.abt(hPar, drop.xd(), parA.value(), T, r, IC);
        SmallMatmul.abt(hSeq, baseOut, seqA.value(), T, r, OC);
        SmallMatmul.abtAcc(y, scale, hPar, parB.value(), T, OC, r);
        SmallMatmul.abtAcc(y, scale, hSeq, seqB.value(), T, OC, r);
        return new Saved(drop, baseOut, hPar, hSeq);
    }

    /**
     * dB_p += s·dyᵀ·hPar; dB_s += s·dyᵀ·hSeq; dhPar = s·dy·B_p; dhSeq = s·dy·B_s; dA_p += dhParᵀ·xd;
     * dA_s += dhSeqᵀ·baseOut; dxd = dhPar·A_p + (dhSeq·A_s)·W; dx += drop'(dxd).
     */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("Hydra backward needs the state its own forwardTrain returned, got " + saved);
        }
        SmallMatmul.atbAcc(parB.grad(), scale, dy, s.hPar(), T, OC, r);
        SmallMatmul.atbAcc(seqB.grad(), scale, dy, s.hSeq(), T, OC, r);
        float[] dhPar = new float[T * r], dhSeq = new float[T * r];
        SmallMatmul.ab(dhPar, scale, dy, parB.value(), T, r, OC, false);
        SmallMatmul.ab(dhSeq, scale, dy, seqB.value(), T, r, OC, false);
        SmallMatmul.atbAcc(parA.grad(), 1f, dhPar, s.drop().xd(), T, r, IC);
        SmallMatmul.atbAcc(seqA.grad(), 1f, dhSeq, s.baseOut(), T, r, OC);
        if (dx == null) {
            return;
        }
        float[] dBaseOut = new float[T * OC];
        SmallMatmul.ab(dBaseOut, 1f, dhSeq, seqA.value(), T, OC, r, false);
        float[] dxd = new float[T * IC];
        SmallMatmul.ab(dxd, 1f, dhPar, parA.value(), T, IC, r, false);
        base.matmulBackwardInput(dBaseOut, T, dxd);
        s.drop().backward(dxd, dx);
    }

    /**
     * w ← (I + s·B_s·A_s)·w + s·B_p·A_p, i.e. w += s·B_s·(A_s·w) + s·B_p·A_p with A_s·w [r × IC] taken from the
     * incoming w. w must hold the base this adapter was built on (the sequential branch reads that layer's output).
     */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        float[] seqAw = new float[r * IC];
        SmallMatmul.ab(seqAw, 1f, seqA.value(), w, r, IC, OC, false);
        SmallMatmul.ab(w, scale, seqB.value(), seqAw, OC, IC, r, true);
        SmallMatmul.ab(w, scale, parB.value(), parA.value(), OC, IC, r, true);
    }
}
