package dev.jlora.engine.infer;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.FfnAdapter;
import dev.jlora.engine.adapter.LinearAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.XLoraModel;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.simd.RopeLayout;
import dev.jlora.simd.RopeTables;
import dev.jlora.simd.VectorOps;

/**
 * One running sequence of a Llama-family decoder: the fp32 KV cache, the position, and every buffer the forward
 * needs, allocated once here so that {@link #decode} allocates nothing (but a KV page every
 * {@link KvPagePool#pageSize()} positions).
 *
 * <p>The KV cache is paged ({@link KvCache}): a session of its own takes its pages from a private pool sized for
 * its context, as it grows; a session of a server takes them from the server's shared {@link KvPagePool}, where the
 * scheduler makes room ({@link #reserve}) before each step and gives them back ({@link #releaseCache}).
 *
 * <p>The forward is the one of Llama (Touvron et al. 2023) as llama.cpp's {@code llm_build_llama} computes it:
 * pre-RMSNorm blocks, GQA self-attention with rotary embeddings and a causal mask, SwiGLU feed-forward, final
 * RMSNorm and the output head. Qwen2's q/k/v biases are added when the config has them. Adapters are applied
 * unmerged after each base linear: y = x·Wᵀ (+ b) + Δ(x).
 *
 * <p>A prompt goes through {@link #prefill} in chunks of up to {@code maxBatch} tokens, every linear a
 * [T × IC] matmul; then {@link #decode} adds one token at a time. Not thread-safe: one session per sequence.
 */
public final class InferenceSession {
    /** Prefill chunk used by {@link #InferenceSession(LlamaModel, AdapterSet, int)}. */
    public static final int DEFAULT_MAX_BATCH = 64;

    private final LlamaConfig cfg;
    private final LlamaWeights w;
    private final AdapterSet adapters;
    private final VectorOps ops = VectorOps.get();
    private final RopeTables ropeTables;   // [ctx × hs/2] angles of every position the cache can hold
    private final RopeLayout ropeLayout;
    private final KvCache cache;
    private final Attention attention;
    private final int maxBatch;
    private int pos;

    // [maxBatch × width] activations, reused by every chunk and layer.
    private final float[] x, xb, q, k, v, att, hb, hb2;
    private final int[] positions;      // [maxBatch] positions of the chunk's tokens
    private final float[] rstd;         // [maxBatch] RMSNorm scales (kept only because the kernel writes them)
    private final float[] logits;       // [V] logits of the last position
    private float[] chunkLogits;        // [maxBatch × V], allocated on the first all-positions forward
    private float[] ffnOut;             // [maxBatch × C], allocated for the first FfnAdapter
    private final XLoraModel xlora;             // X-LoRA adapters' scaling head, or null
    private final InferenceSession scalingPass; // the base model in lockstep, for X-LoRA's hidden states, or null

    /** Bytes of the fp32 KV cache a session for {@code contextSize} positions of {@code cfg} allocates. */
    public static long kvCacheBytes(LlamaConfig cfg, long contextSize) {
        return kvCacheBytes(cfg, contextSize, KvCacheType.F32);
    }

    /** Bytes of a KV cache of {@code type} for {@code contextSize} positions of {@code cfg}. */
    public static long kvCacheBytes(LlamaConfig cfg, long contextSize, KvCacheType type) {
        return KvCache.bytesFor(cfg.nLayers(), contextSize, cfg.kvDim(), type);
    }

    /** A session for {@code contextSize} positions with the default prefill chunk. */
    public InferenceSession(LlamaModel model, AdapterSet adapters, int contextSize) {
        this(model, adapters, contextSize, DEFAULT_MAX_BATCH);
    }

    /**
     * @param contextSize positions the KV cache holds (at most the model's context length is sensible, but longer
     *                    is allowed: rotary embeddings extrapolate, the quality does not)
     * @param maxBatch    tokens per prefill chunk; longer prompts are split
     */
    public InferenceSession(LlamaModel model, AdapterSet adapters, int contextSize, int maxBatch) {
        this(model, adapters, contextSize, maxBatch, null);
    }

    /**
     * A session whose KV pages come from {@code pool} (shared with other sessions of the same model), null for a
     * private pool of {@code contextSize} positions.
     */
    public InferenceSession(LlamaModel model, AdapterSet adapters, int contextSize, int maxBatch, KvPagePool pool) {
        this.cfg = model.config();
        this.w = model.weights();
        this.adapters = adapters == null ? AdapterSet.NONE : adapters;
        if (contextSize <= 0 || maxBatch <= 0) {
            throw new IllegalArgumentException("context size and batch must be positive, got " + contextSize + " and " + maxBatch);
        }
        checkShapes(cfg, w);
        this.ropeTables = Rope.tables(cfg, contextSize);
        this.ropeLayout = Rope.layout(cfg);
        this.maxBatch = Math.min(maxBatch, contextSize);
        if (pool != null && (pool.kvDim() != cfg.kvDim() || pool.layers() != cfg.nLayers())) {
            throw new IllegalArgumentException("the KV page pool holds " + pool.layers() + " layers of " + pool.kvDim()
                    + "-float rows but this model has " + cfg.nLayers() + " layers of " + cfg.kvDim());
        }
        this.cache = new KvCache(pool != null ? pool : KvPagePool.forPositions(cfg, contextSize), contextSize);
        int B = this.maxBatch;
        int C = cfg.dim();
        x = new float[B * C];
        xb = new float[B * C];
        q = new float[B * cfg.qDim()];
        k = new float[B * cfg.kvDim()];
        v = new float[B * cfg.kvDim()];
        att = new float[B * cfg.qDim()];
        hb = new float[B * cfg.hiddenDim()];
        hb2 = new float[B * cfg.hiddenDim()];
        positions = new int[B];
        rstd = new float[B];
        logits = new float[cfg.vocabSize()];
        attention = new Attention(cfg.nHeads(), cfg.nKvHeads(), cfg.headDim(), contextSize);
        // X-LoRA (Buehler & Buehler 2024): the scalings of each chunk come from the base model's final hidden states
        // of those tokens, so a base session with its own KV cache runs every chunk first (the scaling pass).
        this.xlora = XLoraModel.of(this.adapters, cfg.nLayers());
        this.scalingPass = xlora == null ? null
                : new InferenceSession(new LlamaModel(cfg, w, model.tokenizer()), AdapterSet.NONE, contextSize, maxBatch);
    }

    public LlamaConfig config() {
        return cfg;
    }

    /** Tokens already in the KV cache; the next token goes to this position. */
    public int position() {
        return pos;
    }

    /** Positions the KV cache holds. */
    public int contextSize() {
        return cache.contextSize;
    }

    /** Bytes of the KV pages this session holds. */
    public long kvCacheBytes() {
        return cache.bytes();
    }

    /** KV pages this session holds. */
    public int kvPages() {
        return cache.pageCount();
    }

    /**
     * Takes KV pages until {@code positions} positions fit; false when the pool has no page left (the pages taken
     * so far are kept).
     */
    public boolean reserve(int positions) {
        return cache.grow(positions);
    }

    /** Gives every KV page back to the pool and forgets everything: the next token goes to position 0. */
    public void releaseCache() {
        reset();
        cache.release();
    }

    /** Forgets everything: the next token goes to position 0. */
    public void reset() {
        pos = 0;
        if (scalingPass != null) {
            scalingPass.reset();
        }
    }

    /** Drops positions {@code newPosition..} from the cache (keeps a shared prefix, e.g. a system prompt). */
    public void rewind(int newPosition) {
        if (newPosition < 0 || newPosition > pos) {
            throw new IllegalArgumentException("can rewind to 0.." + pos + ", not " + newPosition);
        }
        pos = newPosition;
        if (scalingPass != null) {
            scalingPass.rewind(newPosition);
        }
    }

    /**
     * Runs {@code tokens} at positions {@code position() ..} and returns the logits [V] of the last one. The array
     * is this session's buffer: valid until the next call.
     */
    public float[] prefill(int[] tokens) {
        if (tokens.length == 0) {
            throw new IllegalArgumentException("prefill needs at least one token");
        }
        requireRoom(tokens.length);
        for (int off = 0; off < tokens.length; off += maxBatch) {
            int T = Math.min(maxBatch, tokens.length - off);
            forwardChunk(tokens, off, T);
            if (off + T == tokens.length) {
                headRows(T - 1, 1, logits);
            }
        }
        return logits;
    }

    /** Runs one token at position {@code position()} and returns the logits [V] (this session's buffer). */
    public float[] decode(int token) {
        requireRoom(1);
        singleToken[0] = token;
        forwardChunk(singleToken, 0, 1);
        headRows(0, 1, logits);
        return logits;
    }

    private final int[] singleToken = new int[1];

    /**
     * Runs {@code tokens} and returns the logits of every position, [T × V] row-major in a new array (for
     * evaluation: perplexity, prefill-vs-decode checks).
     */
    public float[] forwardAllLogits(int[] tokens) {
        requireRoom(tokens.length);
        int V = cfg.vocabSize();
        float[] out = new float[Math.multiplyExact(tokens.length, V)];
        if (chunkLogits == null) {
            chunkLogits = new float[maxBatch * V];
        }
        for (int off = 0; off < tokens.length; off += maxBatch) {
            int T = Math.min(maxBatch, tokens.length - off);
            forwardChunk(tokens, off, T);
            headRows(0, T, chunkLogits);
            System.arraycopy(chunkLogits, 0, out, off * V, T * V);
        }
        return out;
    }

    // ---- hooks of BatchedDecode: the per-sequence parts of a decode step whose linears run batched ----

    LlamaWeights weights() {
        return w;
    }

    AdapterSet adapters() {
        return adapters;
    }

    /** True for X-LoRA adapters: each chunk needs a base-model pass first, which a batched step does not run. */
    boolean runsScalingPass() {
        return scalingPass != null;
    }

    /** Most rows one {@link #attendRows} call may take (the prefill chunk). */
    int maxBatch() {
        return maxBatch;
    }

    /**
     * For T new tokens at positions {@code position() ..} in block {@code layer}: rotates their q and k rows (rows
     * {@code row0 .. row0+T} of the caller's [rows × qDim] / [rows × kvDim] buffers), stores k and v in this cache,
     * and writes the attention output rows (causal within the T tokens, as {@link #prefill}).
     */
    void attendRows(int layer, float[] qRows, float[] kRows, float[] vRows, float[] attRows, int row0, int T) {
        if (T < 1 || T > maxBatch) {
            throw new IllegalArgumentException("a batched step takes 1.." + maxBatch + " tokens of a session, not " + T);
        }
        if (layer == 0) {
            requireRoom(T);
        }
        int qDim = cfg.qDim(), kvDim = cfg.kvDim(), hs = cfg.headDim();
        System.arraycopy(qRows, row0 * qDim, q, 0, T * qDim);
        System.arraycopy(kRows, row0 * kvDim, k, 0, T * kvDim);
        for (int t = 0; t < T; t++) {
            positions[t] = pos + t;
        }
        ops.ropeForward(q, T, cfg.nHeads(), hs, positions, ropeTables, ropeLayout);
        ops.ropeForward(k, T, cfg.nKvHeads(), hs, positions, ropeTables, ropeLayout);
        cache.write(layer, pos, k, 0, vRows, row0, T);
        attention.forward(att, q, cache, layer, pos, T);
        System.arraycopy(att, 0, attRows, row0 * qDim, T * qDim);
    }

    /** Ends a batched step of T tokens: they are in every layer's cache; the last one's logits go to this buffer. */
    float[] advance(int T, float[] logitRows, int row) {
        pos += T;
        int V = cfg.vocabSize();
        System.arraycopy(logitRows, row * V, logits, 0, V);
        return logits;
    }

    private void requireRoom(int n) {
        if (pos + n > cache.contextSize) {
            throw new IllegalStateException("context full: " + pos + " positions used + " + n + " new > context size "
                    + cache.contextSize);
        }
        if (!cache.grow(pos + n)) {
            throw new IllegalStateException("the KV page pool has no free page for positions " + pos + ".." + (pos + n)
                    + " (" + cache.pool + "); a scheduler reserves pages before each step");
        }
    }

    /** The decoder blocks over tokens[off .. off+T) at positions pos .. pos+T; leaves the residual stream in x. */
    private void forwardChunk(int[] tokens, int off, int T) {
        if (xlora == null) {
            blocks(tokens, off, T);
            return;
        }
        // The scalings live in the X-LoRA model, which every session of the same loaded adapter shares (a server
        // loads an adapter once for all its requests): hold it from the scaling pass to the end of the scaled pass.
        synchronized (xlora) {
            int C = cfg.dim();
            scalingPass.requireRoom(T);
            scalingPass.blocks(tokens, off, T);
            float[] scalingHidden = new float[T * C];
            ops.rmsNormForward(scalingHidden, rstd, scalingPass.x, w.finalNorm(), T, C, cfg.rmsEps());
            xlora.setHidden(scalingHidden, T);
            blocks(tokens, off, T);
        }
    }

    /** {@link #forwardChunk} without X-LoRA's scaling pass. */
    private void blocks(int[] tokens, int off, int T) {
        final int C = cfg.dim(), hidden = cfg.hiddenDim(), hs = cfg.headDim();
        final int V = cfg.vocabSize();
        final int p0 = pos;
        for (int t = 0; t < T; t++) {
            int id = tokens[off + t];
            if (id < 0 || id >= V) {
                throw new IllegalArgumentException("token id " + id + " at index " + (off + t) + " is outside the vocabulary 0.." + (V - 1));
            }
            w.tokenEmbedding().dequantizeRow(id, x, t * C);
            positions[t] = p0 + t;
        }
        for (int l = 0; l < cfg.nLayers(); l++) {
            LlamaWeights.Layer layer = w.layers().get(l);
            ops.rmsNormForward(xb, rstd, x, layer.attnNorm(), T, C, cfg.rmsEps());
            linear(layer.wq(), layer.bq(), l, Target.Q, xb, T, q);
            linear(layer.wk(), layer.bk(), l, Target.K, xb, T, k);
            linear(layer.wv(), layer.bv(), l, Target.V, xb, T, v);
            ops.ropeForward(q, T, cfg.nHeads(), hs, positions, ropeTables, ropeLayout);
            ops.ropeForward(k, T, cfg.nKvHeads(), hs, positions, ropeTables, ropeLayout);
            cache.write(l, p0, k, 0, v, 0, T);
            attention.forward(att, q, cache, l, p0, T);
            linear(layer.wo(), null, l, Target.O, att, T, xb);
            ops.axpy(1f, xb, 0, x, 0, T * C);
            ops.rmsNormForward(xb, rstd, x, layer.ffnNorm(), T, C, cfg.rmsEps());
            FfnAdapter ffn = FfnAdapter.of(adapters, l);
            if (ffn != null) {   // the adapter replaces the whole FFN (MixLoRA)
                if (ffnOut == null) {
                    ffnOut = new float[maxBatch * C];
                }
                ffn.forwardFfn(layer, xb, T, ffnOut);
                System.arraycopy(ffnOut, 0, xb, 0, T * C);
            } else {
                linear(layer.wGate(), null, l, Target.GATE, xb, T, hb);
                linear(layer.wUp(), null, l, Target.UP, xb, T, hb2);
                ops.swigluForward(hb, hb, hb2, T * hidden);
                linear(layer.wDown(), null, l, Target.DOWN, hb, T, xb);
            }
            ops.axpy(1f, xb, 0, x, 0, T * C);
        }
        pos = p0 + T;
    }

    /** Final norm and output head of chunk rows [first, first + n) into out[0 .. n·V). */
    private void headRows(int first, int n, float[] out) {
        int C = cfg.dim();
        System.arraycopy(x, first * C, xb, 0, n * C);
        ops.rmsNormForward(xb, rstd, xb, w.finalNorm(), n, C, cfg.rmsEps());
        w.output().matmul(xb, n, out);
    }

    /** y = x·Wᵀ (+ b) (+ Δ(x) when an adapter sits on this layer and target). */
    private void linear(QuantMatrix W, float[] bias, int layer, Target target, float[] in, int T, float[] out) {
        W.matmul(in, T, out);
        if (bias != null) {
            int OC = W.rows();
            for (int t = 0; t < T; t++) {
                ops.axpy(1f, bias, 0, out, t * OC, OC);
            }
        }
        LinearAdapter a = adapters.get(layer, target);
        if (a != null) {
            a.forward(in, T, out);
        }
    }

    private static void checkShapes(LlamaConfig c, LlamaWeights w) {
        int C = c.dim();
        check("token_embd", w.tokenEmbedding(), c.vocabSize(), C);
        check("output", w.output(), c.vocabSize(), C);
        checkLength("output_norm", w.finalNorm(), C);
        if (w.layers().size() != c.nLayers()) {
            throw new IllegalArgumentException("config has " + c.nLayers() + " layers but the weights have " + w.layers().size());
        }
        for (int l = 0; l < c.nLayers(); l++) {
            LlamaWeights.Layer L = w.layers().get(l);
            String p = "blk." + l + ".";
            checkLength(p + "attn_norm", L.attnNorm(), C);
            checkLength(p + "ffn_norm", L.ffnNorm(), C);
            check(p + "attn_q", L.wq(), c.qDim(), C);
            check(p + "attn_k", L.wk(), c.kvDim(), C);
            check(p + "attn_v", L.wv(), c.kvDim(), C);
            check(p + "attn_output", L.wo(), C, c.qDim());
            check(p + "ffn_gate", L.wGate(), c.hiddenDim(), C);
            check(p + "ffn_up", L.wUp(), c.hiddenDim(), C);
            check(p + "ffn_down", L.wDown(), C, c.hiddenDim());
            if (L.bq() != null) checkLength(p + "attn_q.bias", L.bq(), c.qDim());
            if (L.bk() != null) checkLength(p + "attn_k.bias", L.bk(), c.kvDim());
            if (L.bv() != null) checkLength(p + "attn_v.bias", L.bv(), c.kvDim());
        }
    }

    private static void check(String name, QuantMatrix m, int rows, int cols) {
        if (m == null) {
            throw new IllegalArgumentException("weight '" + name + "' is missing");
        }
        if (m.rows() != rows || m.cols() != cols) {
            throw new IllegalArgumentException("weight '" + name + "' is [" + m.rows() + " × " + m.cols()
                    + "] but the config needs [" + rows + " × " + cols + "]");
        }
    }

    private static void checkLength(String name, float[] a, int n) {
        if (a == null || a.length != n) {
            throw new IllegalArgumentException("weight '" + name + "' has " + (a == null ? "no" : a.length)
                    + " elements but the config needs " + n);
        }
    }
}
