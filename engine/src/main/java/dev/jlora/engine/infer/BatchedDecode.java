package dev.jlora.engine.infer;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.FfnAdapter;
import dev.jlora.engine.adapter.LinearAdapter;
import dev.jlora.engine.adapter.LoraAdapter;
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
 * by adapter object). A plain {@link LoraAdapter} adds its delta in place on its rows through their indices with
 * {@link VectorOps#segmentedLora} (S-LoRA §5.1's gather kernel, after Punica's SGMV); any other adapter gets its rows
 * gathered into one [m × IC] block, runs its own {@code forward} and is scattered back. An {@link FfnAdapter}
 * (MixLoRA) replaces the whole FFN of its block on its rows: its rows' normalised FFN inputs are gathered, run
 * through {@link FfnAdapter#forwardFfn} and scattered over the base FFN's output (the base FFN still runs on those
 * rows with the others; its result there is discarded). Rotary embedding, the KV cache write and attention stay per
 * sequence ({@link InferenceSession#attendRows}), against each sequence's own cache.
 *
 * <p>Two kinds of session decode alone, through their own {@link InferenceSession#prefill}, in the same call:
 * X-LoRA sessions (their scalings come from a second, base-model pass over the same tokens with its own KV cache,
 * see {@link InferenceSession}) and sessions whose weights are this model's with trained base tensors in place
 * (embedding, norms, head of an adapter trained with them): their linears are this model's but the rest is not.
 *
 * <p>{@link #prefill} does the same for the prompts of requests that join: all their tokens' rows go through the
 * same matmuls. Per row this is the computation of {@link InferenceSession#decode} and {@code prefill}; results
 * agree with them up to the summation order of the matmul kernels for a different number of rows. Buffers grow to the largest n seen and are reused. Not
 * thread-safe.
 */
public final class BatchedDecode {
    private final LlamaConfig cfg;
    private final LlamaWeights w;
    private final VectorOps ops = VectorOps.get();
    private int capacity;
    private float[] x, xb, q, k, v, att, hb, hb2, rstd, logits;
    private float[] gatherIn = new float[0], gatherOut = new float[0], loraScratch = new float[0];
    private float[] ffnRows = new float[0];   // [rows × C] outputs of FFN adapters, kept while the base FFN runs

    public BatchedDecode(LlamaModel model) {
        this.cfg = model.config();
        this.w = model.weights();
    }

    /**
     * Feeds {@code tokens[i]} to {@code sessions.get(i)} at its position and returns each session's logits [V] (the
     * session's own buffer, valid until its next call). All sessions must belong to this model's weights.
     */
    public float[][] step(List<InferenceSession> sessions, int[] tokens) {
        if (tokens.length != sessions.size()) {
            throw new IllegalArgumentException(sessions.size() + " sessions but " + tokens.length + " tokens");
        }
        int[][] rows = new int[tokens.length][];
        for (int i = 0; i < tokens.length; i++) {
            rows[i] = new int[] {tokens[i]};
        }
        return forward(sessions, rows);
    }

    /**
     * Runs each session's prompt at its position, all sessions' rows through the same matmuls (prompts longer than a
     * session's prefill chunk go in several rounds), and returns the logits of each prompt's last token (the
     * session's buffer). What {@link InferenceSession#prefill} computes for each alone.
     */
    public float[][] prefill(List<InferenceSession> sessions, List<int[]> prompts) {
        int n = sessions.size();
        if (prompts.size() != n) {
            throw new IllegalArgumentException(n + " sessions but " + prompts.size() + " prompts");
        }
        float[][] out = new float[n][];
        int[] done = new int[n];
        while (true) {
            List<InferenceSession> round = new ArrayList<>();
            List<int[]> chunks = new ArrayList<>();
            List<Integer> who = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int[] p = prompts.get(i);
                if (p.length == 0) {
                    throw new IllegalArgumentException("prompt " + i + " has no tokens");
                }
                if (done[i] < p.length) {
                    int T = Math.min(sessions.get(i).maxBatch(), p.length - done[i]);
                    round.add(sessions.get(i));
                    chunks.add(java.util.Arrays.copyOfRange(p, done[i], done[i] + T));
                    who.add(i);
                    done[i] += T;
                }
            }
            if (round.isEmpty()) {
                return out;
            }
            float[][] logits = forward(round, chunks.toArray(new int[0][]));
            for (int j = 0; j < who.size(); j++) {
                out[who.get(j)] = logits[j];
            }
        }
    }

    /**
     * Session i runs tokens[i] (1..its maxBatch tokens): the sessions that decode alone (see the class comment)
     * through their own forward, all others together.
     */
    private float[][] forward(List<InferenceSession> sessions, int[][] tokens) {
        int n = sessions.size();
        float[][] out = new float[n][];
        List<Integer> together = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            InferenceSession s = sessions.get(i);
            if (decodesAlone(s)) {
                out[i] = s.prefill(tokens[i]);
            } else {
                together.add(i);
            }
        }
        if (together.size() == n) {
            return forwardTogether(sessions, tokens);
        }
        if (!together.isEmpty()) {
            List<InferenceSession> batch = new ArrayList<>(together.size());
            int[][] batchTokens = new int[together.size()][];
            for (int j = 0; j < together.size(); j++) {
                batch.add(sessions.get(together.get(j)));
                batchTokens[j] = tokens[together.get(j)];
            }
            float[][] logits = forwardTogether(batch, batchTokens);
            for (int j = 0; j < together.size(); j++) {
                out[together.get(j)] = logits[j];
            }
        }
        return out;
    }

    /** True for X-LoRA sessions and sessions with trained base tensors; throws for another model's session. */
    private boolean decodesAlone(InferenceSession s) {
        if (s.weights() != w && !sameLinears(s.weights())) {
            throw new IllegalArgumentException("a session of another model's weights cannot join this batch");
        }
        return s.weights() != w || s.runsScalingPass();
    }

    /**
     * True when {@code other} holds this model's block linears (the same objects), as the weights of an adapter with
     * trained base tensors do ({@code TrainableBase.applyTo} replaces only the embedding, norms and head).
     */
    private boolean sameLinears(LlamaWeights other) {
        if (other.layers().size() != w.layers().size()) {
            return false;
        }
        for (int l = 0; l < w.layers().size(); l++) {
            LlamaWeights.Layer a = w.layers().get(l), b = other.layers().get(l);
            if (a.wq() != b.wq() || a.wk() != b.wk() || a.wv() != b.wv() || a.wo() != b.wo() || a.wGate() != b.wGate()
                    || a.wUp() != b.wUp() || a.wDown() != b.wDown()) {
                return false;
            }
        }
        return true;
    }

    /** The decoder over rows of sessions of exactly this model's weights, batched. */
    private float[][] forwardTogether(List<InferenceSession> sessions, int[][] tokens) {
        int n = sessions.size();
        int[] row0 = new int[n + 1];
        for (int i = 0; i < n; i++) {
            InferenceSession s = sessions.get(i);
            int T = tokens[i].length;
            if (s.position() + T > s.contextSize()) {
                throw new IllegalStateException("context full: " + s.position() + " positions used + " + T
                        + " new > context size " + s.contextSize());
            }
            row0[i + 1] = row0[i] + T;
        }
        int R = row0[n];
        ensure(R);
        final int C = cfg.dim(), hidden = cfg.hiddenDim(), V = cfg.vocabSize();
        for (int i = 0; i < n; i++) {
            for (int t = 0; t < tokens[i].length; t++) {
                int id = tokens[i][t];
                if (id < 0 || id >= V) {
                    throw new IllegalArgumentException("token id " + id + " of sequence " + i
                            + " is outside the vocabulary 0.." + (V - 1));
                }
                w.tokenEmbedding().dequantizeRow(id, x, (row0[i] + t) * C);
            }
        }
        Map<AdapterSet, List<Integer>> rowsOf = new IdentityHashMap<>();
        for (int i = 0; i < n; i++) {
            List<Integer> rows = rowsOf.computeIfAbsent(sessions.get(i).adapters(), a -> new ArrayList<>());
            for (int r = row0[i]; r < row0[i + 1]; r++) {
                rows.add(r);
            }
        }
        Map<AdapterSet, int[]> groups = new IdentityHashMap<>();   // adapter → its rows
        rowsOf.forEach((a, rows) -> groups.put(a, rows.stream().mapToInt(Integer::intValue).toArray()));
        for (int l = 0; l < cfg.nLayers(); l++) {
            LlamaWeights.Layer layer = w.layers().get(l);
            ops.rmsNormForward(xb, rstd, x, layer.attnNorm(), R, C, cfg.rmsEps());
            linear(layer.wq(), layer.bq(), l, Target.Q, xb, R, q, groups);
            linear(layer.wk(), layer.bk(), l, Target.K, xb, R, k, groups);
            linear(layer.wv(), layer.bv(), l, Target.V, xb, R, v, groups);
            for (int i = 0; i < n; i++) {
                sessions.get(i).attendRows(l, q, k, v, att, row0[i], tokens[i].length);
            }
            linear(layer.wo(), null, l, Target.O, att, R, xb, groups);
            ops.axpy(1f, xb, 0, x, 0, R * C);
            ops.rmsNormForward(xb, rstd, x, layer.ffnNorm(), R, C, cfg.rmsEps());
            List<int[]> replaced = ffnAdapters(layer, l, R, groups);
            linear(layer.wGate(), null, l, Target.GATE, xb, R, hb, groups);
            linear(layer.wUp(), null, l, Target.UP, xb, R, hb2, groups);
            ops.swigluForward(hb, hb, hb2, R * hidden);
            linear(layer.wDown(), null, l, Target.DOWN, hb, R, xb, groups);
            for (int[] rows : replaced) {
                for (int r : rows) {
                    System.arraycopy(ffnRows, r * C, xb, r * C, C);
                }
            }
            ops.axpy(1f, xb, 0, x, 0, R * C);
        }
        // Head: only the last row of each session is needed.
        for (int i = 0; i < n; i++) {
            System.arraycopy(x, (row0[i + 1] - 1) * C, xb, i * C, C);
        }
        ops.rmsNormForward(xb, rstd, xb, w.finalNorm(), n, C, cfg.rmsEps());
        w.output().matmul(xb, n, logits);
        float[][] out = new float[n][];
        for (int i = 0; i < n; i++) {
            out[i] = sessions.get(i).advance(tokens[i].length, logits, i);
        }
        return out;
    }

    /**
     * Runs the FFN adapters of block {@code l} (MixLoRA) on their groups' rows of the normalised FFN input xb, into
     * the same rows of {@link #ffnRows}; returns those groups' rows (the caller puts them over the base FFN output).
     */
    private List<int[]> ffnAdapters(LlamaWeights.Layer layer, int l, int R, Map<AdapterSet, int[]> groups) {
        List<int[]> replaced = new ArrayList<>();
        int C = cfg.dim();
        for (var g : groups.entrySet()) {
            FfnAdapter f = FfnAdapter.of(g.getKey(), l);
            if (f == null) {
                continue;
            }
            int[] rows = g.getValue();
            ffnRows = grow(ffnRows, R * C);
            gatherIn = gather(xb, rows, C, gatherIn);
            gatherOut = grow(gatherOut, rows.length * C);
            f.forwardFfn(layer, gatherIn, rows.length, gatherOut);
            scatter(gatherOut, rows, C, ffnRows);
            replaced.add(rows);
        }
        return replaced;
    }

    /** y = x·Wᵀ (+ b) for all n rows at once, then y += Δ(x) on the rows of each adapter group. */
    private void linear(QuantMatrix W, float[] bias, int layer, Target target, float[] in, int n, float[] out,
                        Map<AdapterSet, int[]> groups) {
        W.matmul(in, n, out);
        int OC = W.rows(), IC = W.cols();
        if (bias != null) {
            for (int t = 0; t < n; t++) {
                ops.axpy(1f, bias, 0, out, t * OC, OC);
            }
        }
        for (var g : groups.entrySet()) {
            LinearAdapter a = g.getKey().get(layer, target);
            if (a == null || a instanceof FfnAdapter) {   // an FFN adapter ran on the whole FFN (ffnAdapters)
                continue;
            }
            int[] rows = g.getValue();
            int m = rows.length;
            if (a instanceof LoraAdapter lora) {
                int r = lora.rank();
                if (loraScratch.length < VectorOps.segmentedLoraScratch(r, OC)) {
                    loraScratch = new float[VectorOps.segmentedLoraScratch(r, OC)];
                }
                ops.segmentedLora(out, in, rows, 0, m, IC, OC, lora.loraA().value(), lora.loraB().value(), r,
                        lora.scale(), loraScratch);
                continue;
            }
            gatherIn = gather(in, rows, IC, gatherIn);
            gatherOut = gather(out, rows, OC, gatherOut);
            a.forward(gatherIn, m, gatherOut);
            scatter(gatherOut, rows, OC, out);
        }
    }

    /** Rows {@code rows} of src [· × width] into the first rows of dst (grown when too small); returns dst. */
    private static float[] gather(float[] src, int[] rows, int width, float[] dst) {
        dst = grow(dst, rows.length * width);
        for (int j = 0; j < rows.length; j++) {
            System.arraycopy(src, rows[j] * width, dst, j * width, width);
        }
        return dst;
    }

    /** The first rows of src back to rows {@code rows} of dst [· × width]. */
    private static void scatter(float[] src, int[] rows, int width, float[] dst) {
        for (int j = 0; j < rows.length; j++) {
            System.arraycopy(src, j * width, dst, rows[j] * width, width);
        }
    }

    private static float[] grow(float[] a, int length) {
        return a.length < length ? new float[length] : a;
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
