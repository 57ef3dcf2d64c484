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
 * <p>Heads run in parallel on the shared pool once the work is worth a fork (decode of a tiny model is not). Each
 * head owns one score row, so the loop allocates nothing of its own; the body is a field, not a fresh lambda.
 */
final class Attention implements Parallel.RangeBody {
    /** Multiply-adds below which heads run on the caller: a fork-join round trip costs more than this. */
    static final long PARALLEL_THRESHOLD = 1L << 15;

    private final VectorOps ops = VectorOps.get();
    private final int H, KVH, hs, group, ctx;
    private final float scale;
    private final float[] scores;   // [H × ctx]

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
        this.scores = new float[Math.multiplyExact(nHeads, contextSize)];
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
        long work = 2L * H * T * (p0 + T) * hs;
        if (work < PARALLEL_THRESHOLD) {
            run(0, H);
        } else {
            Parallel.parallelForRange(H, this);
        }
    }

    /** Heads [from, to) of the current forward. */
    @Override
    public void run(int from, int to) {
        for (int h = from; h < to; h++) {
            head(h);
        }
    }

    private void head(int h) {
        final int qDim = H * hs, kvDim = KVH * hs, P = cache.pageSize;
        final int kvOff = (h / group) * hs;
        final int sOff = h * ctx;
        for (int t = 0; t < T; t++) {
            int qOff = t * qDim + h * hs;
            int n = p0 + t + 1;
            // A page's scores in one pass over its keys, stored transposed: channel c of the head's keys is a run of
            // P positions, so the scores add up a vector of positions per channel, with no horizontal sum per
            // position (a dot product per position took 28 % of the samples of a stories110M run that prefilled
            // 960 tokens and decoded 32 more).
            java.util.Arrays.fill(scores, sOff, sOff + n, 0f);
            for (int page = 0, j0 = 0; j0 < n; page++, j0 += P) {
                ops.gemvT(scale, q, qOff, cache.page(page).keys[layer], kvOff * P, P, hs, Math.min(P, n - j0),
                        scores, sOff + j0);
            }
            ops.softmaxForward(scores, sOff, scores, sOff, n, n);
            int oOff = t * qDim + h * hs;
            java.util.Arrays.fill(out, oOff, oOff + hs, 0f);
            for (int page = 0, j0 = 0; j0 < n; page++, j0 += P) {
                ops.gemvT(1f, scores, sOff + j0, cache.page(page).values[layer], kvOff, kvDim, Math.min(P, n - j0), hs,
                        out, oOff);
            }
        }
    }
}
