package dev.jlora.engine.infer;

import dev.jlora.simd.Parallel;
import dev.jlora.simd.VectorOps;

/**
 * Causal grouped-query self-attention over the KV cache (Vaswani et al. 2017 §3.2.1; GQA, Ainslie et al. 2023):
 * query head h reads key/value head h / (H / KVH). Query t of a chunk sits at position p0 + t and attends to
 * positions 0 .. p0 + t.
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
    private float[] out, q, kc, vc;
    private int p0, T;

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
     * @param kc   key cache [ctx × KVH·hs], rows 0 .. p0+T filled
     * @param vc   value cache, same shape
     */
    void forward(float[] out, float[] q, float[] kc, float[] vc, int p0, int T) {
        this.out = out;
        this.q = q;
        this.kc = kc;
        this.vc = vc;
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
        final int qDim = H * hs, kvDim = KVH * hs;
        final int kvOff = (h / group) * hs;
        final int sOff = h * ctx;
        for (int t = 0; t < T; t++) {
            int qOff = t * qDim + h * hs;
            int n = p0 + t + 1;
            for (int j = 0; j < n; j++) {
                scores[sOff + j] = scale * ops.dot(q, qOff, kc, j * kvDim + kvOff, hs);
            }
            ops.softmaxForward(scores, sOff, scores, sOff, n, n);
            int oOff = t * qDim + h * hs;
            java.util.Arrays.fill(out, oOff, oOff + hs, 0f);
            for (int j = 0; j < n; j++) {
                ops.axpy(scores[sOff + j], vc, j * kvDim + kvOff, out, oOff, hs);
            }
        }
    }
}
