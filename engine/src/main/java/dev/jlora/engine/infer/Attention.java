package dev.jlora.engine.infer;

import dev.jlora.simd.Parallel;
import dev.jlora.simd.VectorOps;

/**
 * Causal grouped-query self-attention over the KV cache (Vaswani et al. 2017 §3.2.1; GQA, Ainslie et al. 2023):
 * query head h reads key/value head h / (H / KVH). Query t of a chunk sits at position p0 + t and attends to
 * positions 0 .. p0 + t. Keys and values are read through the sequence's page table ({@link KvCache}): the loops over
 * positions go page by page, so paging costs one array lookup per page, not per position (PagedAttention, Kwon et
 * al. 2023 §4.1, on a CPU).
 *
 * <p>Key/value heads run in parallel on the shared pool once the work is worth a fork (decode of a tiny model is
 * not), each with the query heads of its group. Each query head owns {@link #QUERY_BLOCK} score rows, so the loop
 * allocates nothing of its own; the body is a field, not a fresh lambda.
 */
final class Attention implements Parallel.RangeBody {
    /** Multiply-adds below which heads run on the caller: a fork-join round trip costs more than this. */
    static final long PARALLEL_THRESHOLD = 1L << 15;

    private final VectorOps ops = VectorOps.get();
    private final int H, KVH, hs, group, ctx;
    private final float scale;
    /** Queries whose scores are computed together, page by page (see {@link #head}). */
    static final int QUERY_BLOCK = 8;

    private final float[] scores;   // [H × QUERY_BLOCK × ctx]
    private float[][] keyTiles, valueTiles;   // [KVH][hs × P]: an fp16 page's slice for key/value head kh, widened

    // arguments of the current forward, read by run(from, to)
    private float[] out, q;
    private KvCache cache;
    private int layer, p0, T;

    Attention(int nHeads, int nKvHeads, int headDim, int contextSize) {
        this.H = nHeads;
        this.KVH = nKvHeads;
        this.hs = headDim;
        this.group = nHeads / nKvHeads;
        this.ctx = contextSize;
        this.scale = (float) (1.0 / Math.sqrt(headDim));
        this.scores = new float[Math.multiplyExact(nHeads * QUERY_BLOCK, contextSize)];
    }

    /**
     * out[t·H·hs + h·hs ..] = Σ_j softmax_j(q_t,h · k_j,kh / √hs) · v_j,kh for j ≤ p0 + t.
     *
     * @param out  [T × H·hs], overwritten
     * @param q    [T × H·hs] rotated queries
     * @param cache the sequence's KV cache, positions 0 .. p0+T of {@code layer} filled
     */
    void forward(float[] out, float[] q, KvCache cache, int layer, int p0, int T) {
        this.out = out;
        this.q = q;
        this.cache = cache;
        this.layer = layer;
        this.p0 = p0;
        this.T = T;
        if (cache.type == KvCacheType.F16 && (keyTiles == null || keyTiles[0].length != hs * cache.pageSize)) {
            keyTiles = new float[KVH][hs * cache.pageSize];
            valueTiles = new float[KVH][hs * cache.pageSize];
        }
        long work = 2L * H * T * (p0 + T) * hs;
        if (work < PARALLEL_THRESHOLD) {
            run(0, KVH);
        } else {
            Parallel.parallelForRange(KVH, this);
        }
    }

    /** Key/value heads [from, to) of the current forward, each with the query heads that read it. */
    @Override
    public void run(int from, int to) {
        for (int kh = from; kh < to; kh++) {
            kvHead(kh);
        }
    }

    private void kvHead(int kh) {
        final int qDim = H * hs, kvDim = KVH * hs, P = cache.pageSize;
        final int kvOff = kh * hs, h0 = kh * group;
        final boolean f16 = cache.type == KvCacheType.F16;
        // Queries in blocks of QUERY_BLOCK, each page visited once per block and key/value head: an fp16 page's slice
        // is widened once for the block's queries of every query head of the group (widened per query and query
        // head, a 960-token fp16 prefill ran at 0.81× fp32).
        for (int t0 = 0; t0 < T; t0 += QUERY_BLOCK) {
            int tb = Math.min(QUERY_BLOCK, T - t0), last = p0 + t0 + tb;   // positions the block's last query sees
            for (int h = h0; h < h0 + group; h++) {
                for (int b = 0; b < tb; b++) {
                    int row = scoreRow(h, b);
                    java.util.Arrays.fill(scores, row, row + p0 + t0 + b + 1, 0f);
                }
            }
            // The scores of a page in one pass over its keys, stored transposed: channel c of the head's keys is a run
            // of P positions, so a vector of positions gains q[c]·(row c) per channel, no horizontal sum per position
            // (a dot product per position took 28 % of the samples of a stories110M run that prefilled 960 tokens and
            // decoded 32 more).
            for (int page = 0, j0 = 0; j0 < last; page++, j0 += P) {
                KvPage pg = cache.page(page);
                float[] keys = f16 ? keyTiles[kh] : pg.keys[layer];
                if (f16) {
                    ops.f16ToF32(pg.keysF16[layer], kvOff * P, keys, 0, hs * P);
                }
                for (int h = h0; h < h0 + group; h++) {
                    for (int b = 0; b < tb; b++) {
                        int n = p0 + t0 + b + 1;
                        if (j0 < n) {
                            ops.gemvT(scale, q, (t0 + b) * qDim + h * hs, keys, f16 ? 0 : kvOff * P, P, hs,
                                    Math.min(P, n - j0), scores, scoreRow(h, b) + j0);
                        }
                    }
                }
            }
            for (int h = h0; h < h0 + group; h++) {
                for (int b = 0; b < tb; b++) {
                    int n = p0 + t0 + b + 1, row = scoreRow(h, b), o = (t0 + b) * qDim + h * hs;
                    ops.softmaxForward(scores, row, scores, row, n, n);
                    java.util.Arrays.fill(out, o, o + hs, 0f);
                }
            }
            for (int page = 0, j0 = 0; j0 < last; page++, j0 += P) {
                KvPage pg = cache.page(page);
                int rows = Math.min(P, last - j0);
                float[] values = f16 ? valueTiles[kh] : pg.values[layer];
                if (f16) {
                    for (int r = 0; r < rows; r++) {
                        ops.f16ToF32(pg.valuesF16[layer], r * kvDim + kvOff, values, r * hs, hs);
                    }
                }
                for (int h = h0; h < h0 + group; h++) {
                    for (int b = 0; b < tb; b++) {
                        int n = p0 + t0 + b + 1;
                        if (j0 < n) {
                            ops.gemvT(1f, scores, scoreRow(h, b) + j0, values, f16 ? 0 : kvOff, f16 ? hs : kvDim,
                                    Math.min(P, n - j0), hs, out, (t0 + b) * qDim + h * hs);
                        }
                    }
                }
            }
        }
    }

    /** Start of the score row of query b of the current block for query head h. */
    private int scoreRow(int h, int b) {
        return (h * QUERY_BLOCK + b) * ctx;
    }
}
