package dev.jlora.engine.train;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.FfnAdapter;
import dev.jlora.engine.adapter.LinearAdapter;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.adapter.TrainableBase;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.engine.infer.Rope;
import dev.jlora.simd.Parallel;
import dev.jlora.simd.RopeLayout;
import dev.jlora.simd.RopeTables;
import dev.jlora.simd.VectorOps;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.function.IntConsumer;

/**
 * Training forward and backward of a Llama-family decoder over B sequences of T tokens, in the manner of llm.c's
 * {@code train_gpt2.c}: explicit activation buffers, each op's backward next to its forward. Base weights are frozen
 * (possibly quantized): backward goes through them with {@link QuantMatrix#matmulBackwardInput} and only the adapter
 * parameters receive gradients.
 *
 * <p>Per block: h = x + Wo·attn(rope(Wq·n₁), rope(Wk·n₁), Wv·n₁) with n₁ = rmsnorm(x)·w₁ and a causal GQA
 * softmax(q·kᵀ/√hs) ({@link CausalAttention}); out = h + Wdown·(silu(Wgate·n₂) ⊙ Wup·n₂) with n₂ = rmsnorm(h)·w₂.
 * Each projection adds its adapter's Δ (times its layer's gate when {@link #setLayerGates} set Flexora's gates).
 * With {@link #useSparseAttention} the training forward/backward restrict each query to its LongLoRA S²-Attn group
 * ({@link ShiftedSparseAttention}); evaluation and logits stay fully causal. The head is rmsnorm then Wout; the loss
 * is the mean cross-entropy over positions whose target is ≥ 0 (negative targets, e.g. −100, are ignored).
 *
 * <p>Memory: the residual stream [L+1 × B·T × C] is always kept. Without checkpointing every block keeps its
 * activations (about (4C + 3·hidden + 2·qDim + 2·kvDim)·B·T floats); with checkpointing one set is shared and each
 * block's forward is recomputed during backward (Chen et al. 2016). Attention probabilities are never stored
 * (that would be B·H·T² per block): backward recomputes them from q and k, as FlashAttention does. The head is evaluated in
 * chunks of rows and its backward fused into the forward (the targets are known), so no [B·T × V] logits buffer
 * exists during training (at most 2²⁴ logits, 64 MiB, at a time).
 *
 * <p>When the adapter set trains base tensors ({@link TrainableAdapterSet#base()}: embedding, RMSNorm weights,
 * head), those are read from their trainable fp32 copies and receive gradients (+=) like adapter parameters.
 *
 * <p>Not thread-safe: one graph per training loop. Work inside an op is spread over the shared {@link Parallel}
 * pool by independent indices (rows, heads), so results do not depend on the thread count.
 */
public final class LlamaTrainGraph {
    private final LlamaConfig cfg;
    private final LlamaWeights w;
    private final AdapterSet adapters;
    private final TrainableBase base;     // trainable embedding / norms / head, or null
    private final int B, T, BT, C, Qd, KVd, F, H, KVH, hs, V, L;
    private final boolean checkpointing;
    private final VectorOps ops;
    private final RopeTables ropeTables;  // same tables and layout as the inference forward (engine.infer.Rope)
    private final RopeLayout ropeLayout;
    private final CausalAttention attention;
    private final int[] positions;        // [B·T]: t for row b·T + t; every sequence starts at position 0
    private ShiftedSparseAttention sparseAttention;   // LongLoRA's training-only pattern, or null: full causal
    private float[] layerGates, layerGateGrads;       // Flexora's per-layer adapter multipliers (and their ∂loss), or null
    private final float[][] resid;    // [L+1][BT×C]: block inputs, then the final residual
    private final Acts[] acts;        // one per block, or a single shared one with checkpointing
    private final float[] lnf, rstdf; // final norm output and 1/rms
    // gradient scratch, shared by all blocks
    private final float[] dres, dres2, dln, dtmp, dq, dk, dv, datty, dg, du, dact, dweightScratch;
    /** Most logits of one head chunk. */
    private static final long HEAD_CHUNK_FLOATS = 16L << 20;
    // head chunk buffers: input rows, logits (then their gradient), input gradient, per-row loss
    private float[] headIn, headLogits, headDln;
    private double[] headRowLoss;

    /** Activations of one block, saved for its backward. */
    private static final class Acts {
        final float[] ln1, rstd1, q, k, v, atty, x2, ln2, rstd2, g, u, act;
        final EnumMap<Target, TrainableAdapter.Saved> saved = new EnumMap<>(Target.class);
        final EnumMap<Target, float[]> deltas = new EnumMap<>(Target.class);   // adapter outputs, when gated
        TrainableAdapter.Saved ffnSaved;   // of an FfnAdapter that replaces this block's FFN

        Acts(int B, int T, int C, int Qd, int KVd, int F, int H) {
            int BT = B * T;
            ln1 = new float[BT * C];
            rstd1 = new float[BT];
            q = new float[BT * Qd];
            k = new float[BT * KVd];
            v = new float[BT * KVd];
            atty = new float[BT * Qd];
            x2 = new float[BT * C];
            ln2 = new float[BT * C];
            rstd2 = new float[BT];
            g = new float[BT * F];
            u = new float[BT * F];
            act = new float[BT * F];
        }
    }

    /** Loss of one forward pass and the number of predicted (non-ignored) tokens it averaged over. */
    public record Loss(double loss, int tokens) {}

    public LlamaTrainGraph(LlamaConfig cfg, LlamaWeights weights, AdapterSet adapters, int B, int T,
                           boolean checkpointing) {
        this(cfg, weights, adapters, B, T, checkpointing, VectorOps.get());
    }

    /**
     * With explicit kernels: {@link dev.jlora.simd.ScalarOps} gives bit-identical results on every run and JIT tier;
     * the Vector API kernels are faster but their lane reductions and {@code exp} may differ in the last bits
     * between the interpreter, C1 and C2.
     */
    public LlamaTrainGraph(LlamaConfig cfg, LlamaWeights weights, AdapterSet adapters, int B, int T,
                           boolean checkpointing, VectorOps ops) {
        this.ops = ops;
        if (B <= 0 || T <= 0) {
            throw new IllegalArgumentException("batch and sequence length must be positive, got B=" + B + " T=" + T);
        }
        if (weights.layers().size() != cfg.nLayers()) {
            throw new IllegalArgumentException("config has " + cfg.nLayers() + " layers but the weights have "
                    + weights.layers().size());
        }
        this.cfg = cfg;
        this.w = weights;
        this.adapters = adapters;
        this.base = adapters instanceof TrainableAdapterSet t ? t.base() : null;
        this.B = B;
        this.T = T;
        this.BT = B * T;
        this.C = cfg.dim();
        this.Qd = cfg.qDim();
        this.KVd = cfg.kvDim();
        this.F = cfg.hiddenDim();
        this.H = cfg.nHeads();
        this.KVH = cfg.nKvHeads();
        this.hs = cfg.headDim();
        this.V = cfg.vocabSize();
        this.L = cfg.nLayers();
        this.checkpointing = checkpointing;
        this.ropeTables = Rope.tables(cfg, T);
        this.ropeLayout = Rope.layout(cfg);
        this.attention = new CausalAttention(B, T, H, KVH, hs, ops);
        this.positions = new int[B * T];
        for (int i = 0; i < B * T; i++) {
            positions[i] = i % T;
        }
        this.resid = new float[L + 1][BT * C];
        this.acts = new Acts[checkpointing ? 1 : L];
        for (int i = 0; i < acts.length; i++) {
            acts[i] = new Acts(B, T, C, Qd, KVd, F, H);
        }
        lnf = new float[BT * C];
        rstdf = new float[BT];
        dres = new float[BT * C];
        dres2 = new float[BT * C];
        dln = new float[BT * C];
        dtmp = new float[BT * C];
        dweightScratch = new float[C];
        dq = new float[BT * Qd];
        dk = new float[BT * KVd];
        dv = new float[BT * KVd];
        datty = new float[BT * Qd];
        dg = new float[BT * F];
        du = new float[BT * F];
        dact = new float[BT * F];
    }

    public int batchSize() {
        return B;
    }

    public int seqLen() {
        return T;
    }

    /**
     * Multiplies the output of every adapter of layer l by {@code gates[l]} (Flexora's layer gates) in all forwards
     * and backwards; null removes the gates. With {@code gateGrads} (length L, or null), {@link #forwardBackward}
     * also accumulates ∂(gradScale·loss)/∂gates[l] = Σ ⟨dy, Δ_l(x)⟩ over the layer's adapted linears into it (+=).
     * Replaced whole-FFN adapters ({@link FfnAdapter}) cannot be gated.
     */
    public void setLayerGates(float[] gates, float[] gateGrads) {
        if (gates != null && gates.length != L || gateGrads != null && (gates == null || gateGrads.length != L)) {
            throw new IllegalArgumentException("layer gates need one value per layer (" + L + ") and gradients only "
                    + "with gates");
        }
        for (int l = 0; gates != null && l < L; l++) {
            if (FfnAdapter.of(adapters, l) != null) {
                throw new IllegalArgumentException("layer " + l + "'s FFN is replaced by a " + FfnAdapter.of(adapters, l)
                        .getClass().getSimpleName() + ", which layer gates cannot scale");
            }
        }
        this.layerGates = gates;
        this.layerGateGrads = gateGrads;
    }

    /**
     * Makes {@link #forwardBackward} use LongLoRA's shifted sparse attention (null: full causal attention, the
     * default). {@link #loss} and {@link #logits} keep full attention, as inference does.
     */
    public void useSparseAttention(ShiftedSparseAttention pattern) {
        if (pattern != null) {
            pattern.check(T, H);
        }
        this.sparseAttention = pattern;
    }

    /**
     * Forward and backward of one batch: inputs and targets are [B × T] token ids (targets &lt; 0 ignored). Adapter
     * gradients are accumulated (+=) with the loss multiplied by {@code gradScale} (1/accumulation steps). The
     * adapter set must be a {@link TrainableAdapterSet} (or expose {@link TrainableAdapter}s). Dropout masks are
     * drawn from {@code dropoutSeed}, per (layer, target).
     */
    public Loss forwardBackward(int[] inputs, int[] targets, long dropoutSeed, float gradScale) {
        check(inputs, targets);
        embed(inputs);
        for (int l = 0; l < L; l++) {
            blockForward(l, actsFor(l), true, dropoutSeed);
        }
        var loss = head(targets, true, gradScale, null);
        // dres = ∂loss/∂resid[L], filled by head(); walk the blocks backwards
        for (int l = L - 1; l >= 0; l--) {
            Acts a = actsFor(l);
            if (checkpointing) {
                blockForward(l, a, true, dropoutSeed); // recompute: same input, same dropout seed, same activations
            }
            blockBackward(l, a);
        }
        if (base != null && base.embedding() != null) {
            base.embeddingBackward(inputs, dres);   // dres = ∂loss/∂resid[0]
        }
        return loss;
    }

    /** Loss without gradients or dropout (evaluation). */
    public Loss loss(int[] inputs, int[] targets) {
        check(inputs, targets);
        embed(inputs);
        for (int l = 0; l < L; l++) {
            blockForward(l, actsFor(l), false, 0);
        }
        return head(targets, false, 0f, null);
    }

    /** Logits [B·T × V] of a forward pass without dropout (for tests and comparisons with inference). */
    public float[] logits(int[] inputs) {
        check(inputs, null);
        embed(inputs);
        for (int l = 0; l < L; l++) {
            blockForward(l, actsFor(l), false, 0);
        }
        float[] out = new float[BT * V];
        head(null, false, 0f, out);
        return out;
    }

    /**
     * The final normalised hidden states [B·T × C] of a forward without dropout or gradients (X-LoRA's scaling pass
     * reads them); a new array.
     */
    public float[] finalHidden(int[] inputs) {
        check(inputs, null);
        embed(inputs);
        for (int l = 0; l < L; l++) {
            blockForward(l, actsFor(l), false, 0);
        }
        rmsNormForward(lnf, rstdf, resid[L], normWeight(trainedFinalNorm(), w.finalNorm()));
        return lnf.clone();
    }

    private Acts actsFor(int l) {
        return acts[checkpointing ? 0 : l];
    }

    private void check(int[] inputs, int[] targets) {
        if (inputs.length != BT || (targets != null && targets.length != BT)) {
            throw new IllegalArgumentException("expected " + B + "×" + T + " = " + BT + " inputs and targets, got "
                    + inputs.length + (targets == null ? "" : " and " + targets.length));
        }
        for (int i = 0; i < BT; i++) {
            if (inputs[i] < 0 || inputs[i] >= V) {
                throw new IllegalArgumentException("input token " + inputs[i] + " at sequence " + i / T + " position "
                        + i % T + " is outside the vocabulary [0, " + V + ")");
            }
            if (targets != null && targets[i] >= V) {
                throw new IllegalArgumentException("target token " + targets[i] + " at sequence " + i / T
                        + " position " + i % T + " is outside the vocabulary [0, " + V + ")");
            }
        }
    }

    /** resid[0][t] = E[token t] (frozen embedding rows dequantized, or the trained table). */
    private void embed(int[] inputs) {
        Parameter e = base == null ? null : base.embedding();
        for (int i = 0; i < BT; i++) {
            if (e != null) {
                System.arraycopy(e.value(), inputs[i] * C, resid[0], i * C, C);
            } else {
                w.tokenEmbedding().dequantizeRow(inputs[i], resid[0], i * C);
            }
        }
    }

    /** The norm weight in use: the trained copy when there is one, else the frozen one. */
    private static float[] normWeight(Parameter trained, float[] frozen) {
        return trained == null ? frozen : trained.value();
    }

    /** Where a norm's weight gradient goes: the trained copy's gradient, or a scratch buffer for a frozen one. */
    private float[] normGrad(Parameter trained) {
        return trained == null ? dweightScratch : trained.grad();
    }

    private Parameter trainedAttnNorm(int l) {
        return base == null ? null : base.attnNorm(l);
    }

    private Parameter trainedFfnNorm(int l) {
        return base == null ? null : base.ffnNorm(l);
    }

    private Parameter trainedFinalNorm() {
        return base == null ? null : base.finalNorm();
    }

    // ---------------------------------------------------------------------------------------------------------
    // one decoder block

    private void blockForward(int l, Acts a, boolean train, long dropoutSeed) {
        LlamaWeights.Layer lw = w.layers().get(l);
        float[] x = resid[l];
        rmsNormForward(a.ln1, a.rstd1, x, normWeight(trainedAttnNorm(l), lw.attnNorm()));
        a.saved.clear();
        linearForward(l, Target.Q, lw.wq(), lw.bq(), a.ln1, a.q, a, train, dropoutSeed);
        linearForward(l, Target.K, lw.wk(), lw.bk(), a.ln1, a.k, a, train, dropoutSeed);
        linearForward(l, Target.V, lw.wv(), lw.bv(), a.ln1, a.v, a, train, dropoutSeed);
        ops.ropeForward(a.q, BT, H, hs, positions, ropeTables, ropeLayout);
        ops.ropeForward(a.k, BT, KVH, hs, positions, ropeTables, ropeLayout);
        attention.forward(a.atty, a.q, a.k, a.v, train ? sparseAttention : null);
        linearForward(l, Target.O, lw.wo(), null, a.atty, a.x2, a, train, dropoutSeed);
        for (int i = 0; i < BT * C; i++) {
            a.x2[i] += x[i];
        }
        rmsNormForward(a.ln2, a.rstd2, a.x2, normWeight(trainedFfnNorm(l), lw.ffnNorm()));
        float[] out = resid[l + 1];
        FfnAdapter ffn = FfnAdapter.of(adapters, l);
        if (ffn != null) {  // the adapter replaces the whole FFN (MixLoRA)
            if (train) {
                a.ffnSaved = ffn.forwardFfnTrain(lw, a.ln2, BT, out, dropoutSeedFor(dropoutSeed, l, Target.DOWN));
            } else {
                ffn.forwardFfn(lw, a.ln2, BT, out);
            }
        } else {
            linearForward(l, Target.GATE, lw.wGate(), null, a.ln2, a.g, a, train, dropoutSeed);
            linearForward(l, Target.UP, lw.wUp(), null, a.ln2, a.u, a, train, dropoutSeed);
            swigluForward(a.act, a.g, a.u);
            linearForward(l, Target.DOWN, lw.wDown(), null, a.act, out, a, train, dropoutSeed);
        }
        for (int i = 0; i < BT * C; i++) {
            out[i] += a.x2[i];
        }
    }

    /** dres holds ∂loss/∂resid[l+1] on entry and ∂loss/∂resid[l] on exit. */
    private void blockBackward(int l, Acts a) {
        LlamaWeights.Layer lw = w.layers().get(l);
        // out = x2 + down(act): dx2 = dres (residual), dact = down'(dres)
        Arrays.fill(dln, 0f);
        FfnAdapter ffn = FfnAdapter.of(adapters, l);
        if (ffn != null) {
            ffn.backwardFfn(lw, a.ln2, BT, dres, a.ffnSaved, dln);
        } else {
            Arrays.fill(dact, 0f);
            linearBackward(l, Target.DOWN, lw.wDown(), a.act, dres, dact, a);
            swigluBackward(dg, du, dact, a.g, a.u);
            linearBackward(l, Target.GATE, lw.wGate(), a.ln2, dg, dln, a);
            linearBackward(l, Target.UP, lw.wUp(), a.ln2, du, dln, a);
        }
        System.arraycopy(dres, 0, dres2, 0, BT * C);
        rmsNormBackward(dres2, dln, a.x2, a.rstd2, normWeight(trainedFfnNorm(l), lw.ffnNorm()),
                normGrad(trainedFfnNorm(l)));
        // x2 = x + o(atty)
        Arrays.fill(datty, 0f);
        linearBackward(l, Target.O, lw.wo(), a.atty, dres2, datty, a);
        attention.backward(dq, dk, dv, datty, a.q, a.k, a.v, sparseAttention);
        ops.ropeBackward(dq, BT, H, hs, positions, ropeTables, ropeLayout);
        ops.ropeBackward(dk, BT, KVH, hs, positions, ropeTables, ropeLayout);
        Arrays.fill(dln, 0f);
        linearBackward(l, Target.Q, lw.wq(), a.ln1, dq, dln, a);
        linearBackward(l, Target.K, lw.wk(), a.ln1, dk, dln, a);
        linearBackward(l, Target.V, lw.wv(), a.ln1, dv, dln, a);
        System.arraycopy(dres2, 0, dres, 0, BT * C);
        rmsNormBackward(dres, dln, resid[l], a.rstd1, normWeight(trainedAttnNorm(l), lw.attnNorm()),
                normGrad(trainedAttnNorm(l)));
    }

    // ---------------------------------------------------------------------------------------------------------
    // linear: y = x·Wᵀ (+ bias) + Δ(x)

    private void linearForward(int l, Target t, QuantMatrix wt, float[] bias, float[] x, float[] y, Acts a,
                               boolean train, long dropoutSeed) {
        wt.matmul(x, BT, y);
        if (bias != null) {
            int OC = wt.rows();
            for (int i = 0; i < BT; i++) {
                for (int o = 0; o < OC; o++) {
                    y[i * OC + o] += bias[o];
                }
            }
        }
        LinearAdapter ad = adapters.get(l, t);
        if (ad == null) {
            return;
        }
        // gated: the adapter writes Δ(x) into its own buffer (kept for the gate gradient), y += gate·Δ(x)
        float[] out = y;
        if (layerGates != null) {
            out = a.deltas.computeIfAbsent(t, k -> new float[BT * wt.rows()]);
            Arrays.fill(out, 0f);
        }
        if (train && ad instanceof TrainableAdapter ta) {
            a.saved.put(t, ta.forwardTrain(x, BT, out, dropoutSeedFor(dropoutSeed, l, t)));
        } else {
            ad.forward(x, BT, out);
        }
        if (layerGates != null) {
            ops.axpy(layerGates[l], out, 0, y, 0, out.length);
        }
    }

    /**
     * dx += dy·W (frozen, no weight gradient) + the adapter's input gradient; the adapter's parameters get +=. Gated:
     * the adapter sees gate·dy, and the gate gradient gets ⟨dy, Δ(x)⟩.
     */
    private void linearBackward(int l, Target t, QuantMatrix wt, float[] x, float[] dy, float[] dx, Acts a) {
        wt.matmulBackwardInput(dy, BT, dx);
        LinearAdapter ad = adapters.get(l, t);
        if (ad instanceof TrainableAdapter ta) {
            float[] dyAdapter = dy;
            if (layerGates != null) {
                float[] delta = a.deltas.get(t);
                if (layerGateGrads != null) {
                    layerGateGrads[l] += ops.dot(dy, 0, delta, 0, delta.length);
                }
                dyAdapter = new float[delta.length];   // dy is [BT × OC], as delta
                ops.axpy(layerGates[l], dy, 0, dyAdapter, 0, delta.length);
            }
            ta.backward(x, BT, dyAdapter, a.saved.get(t), dx);
        }
    }

    static long dropoutSeedFor(long seed, int layer, Target t) {
        long z = seed + (layer * 16L + t.ordinal() + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    // ---------------------------------------------------------------------------------------------------------
    // RMSNorm (Zhang & Sennrich 2019): y = x / √(mean(x²) + ε) ⊙ w

    private void rmsNormForward(float[] y, float[] rstd, float[] x, float[] weight) {
        ops.rmsNormForward(y, rstd, x, weight, BT, C, cfg.rmsEps());
    }

    /**
     * dx += r·(w⊙dy) − r³/C · x · Σ(w⊙dy⊙x); dweight += Σ_t dy⊙x·r (a scratch buffer when w is frozen).
     */
    private void rmsNormBackward(float[] dx, float[] dy, float[] x, float[] rstd, float[] weight, float[] dweight) {
        ops.rmsNormBackward(dtmp, dweight, dy, x, weight, rstd, BT, C);
        for (int i = 0; i < BT * C; i++) {
            dx[i] += dtmp[i];
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // SwiGLU (Shazeer 2020): act = silu(g) ⊙ u, silu(g) = g·σ(g)

    private void swigluForward(float[] act, float[] g, float[] u) {
        ops.swigluForward(act, g, u, BT * F);
    }

    /** Overwrites dg, du: du = dact·silu(g); dg = dact·u·σ(g)·(1 + g·(1 − σ(g))). */
    private void swigluBackward(float[] dg, float[] du, float[] dact, float[] g, float[] u) {
        ops.swigluBackward(dg, du, dact, g, u, BT * F);
    }

    // ---------------------------------------------------------------------------------------------------------
    // final norm, output head, cross-entropy

    /**
     * Final RMSNorm, logits in row chunks, mean cross-entropy over targets ≥ 0. With {@code backward}, writes
     * dres = ∂(gradScale·loss)/∂resid[L]: the head's backward is fused into its forward chunk by chunk. With
     * {@code logitsOut}, copies the logits there instead.
     */
    private Loss head(int[] targets, boolean backward, float gradScale, float[] logitsOut) {
        float[] x = resid[L];
        float[] finalNorm = normWeight(trainedFinalNorm(), w.finalNorm());
        boolean trainedHead = base != null && base.head() != null;
        rmsNormForward(lnf, rstdf, x, finalNorm);
        int count = 0;
        if (targets != null) {
            for (int tgt : targets) {
                if (tgt >= 0) {
                    count++;
                }
            }
        }
        int rows = headRows();
        if (headLogits == null) {   // allocated once, on first use: inference-only graphs never need them
            headIn = new float[rows * C];
            headLogits = new float[rows * V];
            headDln = new float[rows * C];
            headRowLoss = new double[rows];
        }
        float[] in = headIn, logits = headLogits, dlnChunk = headDln;
        if (backward) {
            Arrays.fill(dln, 0f);
        }
        double lossSum = 0;
        for (int r0 = 0; r0 < BT; r0 += rows) {
            int n = Math.min(rows, BT - r0);
            System.arraycopy(lnf, r0 * C, in, 0, n * C);
            if (trainedHead) {
                base.headForward(in, n, logits);
            } else {
                w.output().matmul(in, n, logits);
            }
            if (logitsOut != null) {
                System.arraycopy(logits, 0, logitsOut, r0 * V, n * V);
            }
            if (targets == null) {
                continue;
            }
            double[] rowLoss = headRowLoss;
            float dscale = count == 0 ? 0f : gradScale / count;
            int rr0 = r0;
            parallelFor(n, i -> {
                int tgt = targets[rr0 + i];
                if (tgt < 0) {
                    rowLoss[i] = 0;   // the buffer is reused: clear what an earlier chunk left here
                    if (backward) {
                        Arrays.fill(logits, i * V, (i + 1) * V, 0f);
                    }
                    return;
                }
                int o = i * V;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < V; j++) {
                    max = Math.max(max, logits[o + j]);
                }
                float target = logits[o + tgt];
                double sum = 0;
                for (int j = 0; j < V; j++) {
                    float e = (float) Math.exp(logits[o + j] - max);
                    sum += e;
                    if (backward) {
                        logits[o + j] = e;   // kept for the gradient: one exp per logit
                    }
                }
                rowLoss[i] = Math.log(sum) + max - target;
                if (backward) {
                    // d(loss)/d(logit_j) = (softmax_j − [j = target]) / count
                    float k = (float) (dscale / sum);
                    for (int j = 0; j < V; j++) {
                        logits[o + j] *= k;
                    }
                    logits[o + tgt] -= dscale;
                }
            });
            for (int i = 0; i < n; i++) {
                lossSum += rowLoss[i];
            }
            if (backward) {
                if (trainedHead) {
                    base.headBackward(in, n, logits, dlnChunk);
                } else {
                    Arrays.fill(dlnChunk, 0f);
                    w.output().matmulBackwardInput(logits, n, dlnChunk);
                }
                System.arraycopy(dlnChunk, 0, dln, r0 * C, n * C);
            }
        }
        if (backward) {
            Arrays.fill(dres, 0f);
            rmsNormBackward(dres, dln, x, rstdf, finalNorm, normGrad(trainedFinalNorm()));
        }
        return new Loss(count == 0 ? 0 : lossSum / count, count);
    }

    /**
     * Rows of one head chunk: at most {@link #HEAD_CHUNK_FLOATS} logits (64 MiB). Every chunk reads the
     * whole [V × C] head once (packed for the GEMM) in forward and again in backward, so few large chunks cost less
     * time than many small ones; the chunk bounds memory where B·T·V logits would not fit.
     */
    private int headRows() {
        return (int) Math.max(1, Math.min(BT, HEAD_CHUNK_FLOATS / V));
    }

    /** On the shared pool; every index writes disjoint outputs, so the split does not change results. */
    private static void parallelFor(int n, IntConsumer body) {
        Parallel.parallelFor(n, body);
    }
}
