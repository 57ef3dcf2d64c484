package dev.jlora.engine.infer;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.LinearAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.simd.VectorOps;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * One decode step of n sequences of one base model with different adapters, the S-LoRA way (Sheng et al. 2023,
 * §4): the n new tokens are stacked into [n × IC] rows, every base linear runs once for all rows through
 * {@link QuantMatrix#matmul}, and each adapter adds its delta on the rows of the sequences that use it (rows grouped
 * by adapter object, gathered into one [m × IC] block per adapter). Rotary embedding, the KV cache write and
 * attention stay per sequence ({@link InferenceSession#attendOne}), against each sequence's own cache.
 *
 * <p>Per row this is the computation of {@link InferenceSession#decode}; results agree with it up to the summation
 * order of the matmul kernels for n rows versus one. Buffers grow to the largest n seen and are reused. Not
 * thread-safe.
 */
public final class BatchedDecode {
    private final LlamaConfig cfg;
    private final LlamaWeights w;
    private final VectorOps ops = VectorOps.get();
    private int capacity;
    private float[] x, xb, q, k, v, att, hb, hb2, rstd, logits;
    private float[] gatherIn = new float[0], gatherOut = new float[0];

    public BatchedDecode(LlamaModel model) {
        this.cfg = model.config();
        this.w = model.weights();
    }

    /**
     * Feeds {@code tokens[i]} to {@code sessions.get(i)} at its position and returns each session's logits [V] (the
     * session's own buffer, valid until its next call). All sessions must belong to this model's weights.
     */
    public float[][] step(List<InferenceSession> sessions, int[] tokens) {
        int n = sessions.size();
        if (tokens.length != n) {
            throw new IllegalArgumentException(n + " sessions but " + tokens.length + " tokens");
        }
        for (InferenceSession s : sessions) {
            if (s.weights() != w) {
                throw new IllegalArgumentException("a session of another model's weights cannot join this batch");
            }
            if (s.position() >= s.contextSize()) {
                throw new IllegalStateException("context full: " + s.position() + " positions used of " + s.contextSize());
            }
        }
        ensure(n);
        final int C = cfg.dim(), hidden = cfg.hiddenDim(), V = cfg.vocabSize();
        for (int i = 0; i < n; i++) {
            if (tokens[i] < 0 || tokens[i] >= V) {
                throw new IllegalArgumentException("token id " + tokens[i] + " of sequence " + i
                        + " is outside the vocabulary 0.." + (V - 1));
            }
            w.tokenEmbedding().dequantizeRow(tokens[i], x, i * C);
        }
        Map<AdapterSet, List<Integer>> groups = new IdentityHashMap<>();
        for (int i = 0; i < n; i++) {
            groups.computeIfAbsent(sessions.get(i).adapters(), a -> new ArrayList<>()).add(i);
        }
        for (int l = 0; l < cfg.nLayers(); l++) {
            LlamaWeights.Layer layer = w.layers().get(l);
            ops.rmsNormForward(xb, rstd, x, layer.attnNorm(), n, C, cfg.rmsEps());
            linear(layer.wq(), layer.bq(), l, Target.Q, xb, n, q, groups);
            linear(layer.wk(), layer.bk(), l, Target.K, xb, n, k, groups);
            linear(layer.wv(), layer.bv(), l, Target.V, xb, n, v, groups);
            for (int i = 0; i < n; i++) {
                sessions.get(i).attendOne(l, q, k, v, att, i);
            }
            linear(layer.wo(), null, l, Target.O, att, n, xb, groups);
            ops.axpy(1f, xb, 0, x, 0, n * C);
            ops.rmsNormForward(xb, rstd, x, layer.ffnNorm(), n, C, cfg.rmsEps());
            linear(layer.wGate(), null, l, Target.GATE, xb, n, hb, groups);
            linear(layer.wUp(), null, l, Target.UP, xb, n, hb2, groups);
            ops.swigluForward(hb, hb, hb2, n * hidden);
            linear(layer.wDown(), null, l, Target.DOWN, hb, n, xb, groups);
            ops.axpy(1f, xb, 0, x, 0, n * C);
        }
        ops.rmsNormForward(xb, rstd, x, w.finalNorm(), n, C, cfg.rmsEps());
        w.output().matmul(xb, n, logits);
        float[][] out = new float[n][];
        for (int i = 0; i < n; i++) {
            out[i] = sessions.get(i).advance(logits, i);
        }
        return out;
    }

    /** y = x·Wᵀ (+ b) for all n rows at once, then y += Δ(x) on the rows of each adapter group. */
    private void linear(QuantMatrix W, float[] bias, int layer, Target target, float[] in, int n, float[] out,
                        Map<AdapterSet, List<Integer>> groups) {
        W.matmul(in, n, out);
        int OC = W.rows(), IC = W.cols();
        if (bias != null) {
            for (int t = 0; t < n; t++) {
                ops.axpy(1f, bias, 0, out, t * OC, OC);
            }
        }
        for (var g : groups.entrySet()) {
            LinearAdapter a = g.getKey().get(layer, target);
            if (a == null) {
                continue;
            }
            List<Integer> rows = g.getValue();
            int m = rows.size();
            if (gatherIn.length < m * IC) {
                gatherIn = new float[m * IC];
            }
            if (gatherOut.length < m * OC) {
                gatherOut = new float[m * OC];
            }
            for (int j = 0; j < m; j++) {
                System.arraycopy(in, rows.get(j) * IC, gatherIn, j * IC, IC);
                System.arraycopy(out, rows.get(j) * OC, gatherOut, j * OC, OC);
            }
            a.forward(gatherIn, m, gatherOut);
            for (int j = 0; j < m; j++) {
                System.arraycopy(gatherOut, j * OC, out, rows.get(j) * OC, OC);
            }
        }
    }

    private void ensure(int n) {
        if (n <= capacity) {
            return;
        }
        capacity = Math.max(n, 2 * capacity);
        int B = capacity;
        x = new float[B * cfg.dim()];
        xb = new float[B * cfg.dim()];
        q = new float[B * cfg.qDim()];
        k = new float[B * cfg.kvDim()];
        v = new float[B * cfg.kvDim()];
        att = new float[B * cfg.qDim()];
        hb = new float[B * cfg.hiddenDim()];
        hb2 = new float[B * cfg.hiddenDim()];
        rstd = new float[B];
        logits = new float[B * cfg.vocabSize()];
    }
}
