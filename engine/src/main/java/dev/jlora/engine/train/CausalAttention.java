package dev.jlora.engine.train;

import dev.jlora.simd.Matmul;
import dev.jlora.simd.Parallel;
import dev.jlora.simd.VectorOps;
import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedDeque;

/**
 * Causal grouped-query attention of the training graph (query head h reads key/value head h / (H / KVH)), forward
 * and backward over B sequences of T tokens: out_t = Σ_{s ≤ t} p_ts·v_s with p_t = softmax_s(scale·q_t·k_s).
 *
 * <p>Each (sequence, head) is cut into blocks of {@value #QUERY_BLOCK} queries. A block needs only the keys up to
 * its last query, so it costs a [QB × hs]·[hs × t1] and a [QB × t1]·[t1 × hs] product on simd's packed GEMM
 * ({@link Matmul}) instead of one vector op per (query, channel), and the masked upper triangle is skipped
 * block-wise. The probabilities are never stored (B·H·T² per block): the backward recomputes each block from q and
 * k with the same calls, so they are bit-identical to the forward's, as FlashAttention (Dao et al. 2022, §3.1)
 * recomputes them. With scaled queries qs = scale·q and S = qs·kᵀ, the backward is dv += pᵀ·dout, dp = dout·vᵀ,
 * dS = p⊙(dp − Σ_s p·dp), dq = scale·dS·k, dk += dSᵀ·qs.
 *
 * <p>With a LongLoRA S²-Attn pattern ({@link ShiftedSparseAttention}) query t of head h sees keys firstKey(h, t) … t
 * only: a block then multiplies against the key window from its first query's first key to its last query, and
 * each row's softmax covers its own part of that window (the rest of the row is zero).
 *
 * <p>Thread-safe for one call at a time (the graph is not shared). Work is spread over (sequence, head) tasks for
 * the forward and (sequence, key/value head) tasks for the backward, so that the query heads sharing a key/value
 * head accumulate into dk and dv in a fixed order; every output element is summed in one order whatever the thread
 * count.
 */
final class CausalAttention {
    /** Queries per block: a block's scores ([QB × T] floats) stay in L2 for the softmax and the second product. */
    static final int QUERY_BLOCK = 64;

    private final int B, T, H, KVH, hs, Qd, KVd;
    private final float scale;
    private final VectorOps ops;
    /**
     * Scratch of finished tasks. Not thread-local: a worker waiting inside a nested GEMM may run another head's task
     * (fork/join helping), which must not get the same buffers.
     */
    private final ConcurrentLinkedDeque<Scratch> free = new ConcurrentLinkedDeque<>();

    /** One head's operands in contiguous rows, and one query block's scores. */
    private final class Scratch {
        final float[] k = new float[T * hs], v = new float[T * hs], dk = new float[T * hs], dv = new float[T * hs];
        /** Key window of a block that does not start at key 0 (S²-Attn), and its gradients. */
        final float[] kWin = new float[T * hs], vWin = new float[T * hs], dkWin = new float[T * hs],
                dvWin = new float[T * hs];
        final float[] qBlock = new float[QUERY_BLOCK * hs], outBlock = new float[QUERY_BLOCK * hs];
        final float[] p = new float[QUERY_BLOCK * T], dp = new float[QUERY_BLOCK * T];
    }

    CausalAttention(int B, int T, int H, int KVH, int hs, VectorOps ops) {
        this.B = B;
        this.T = T;
        this.H = H;
        this.KVH = KVH;
        this.hs = hs;
        this.Qd = H * hs;
        this.KVd = KVH * hs;
        this.scale = (float) (1.0 / Math.sqrt(hs));
        this.ops = ops;
    }

    /**
     * out [B·T × H·hs] = attention of q [B·T × H·hs] over k, v [B·T × KVH·hs], fully causal or restricted to
     * {@code pattern}'s groups (null: causal). Overwrites out.
     */
    void forward(float[] out, float[] q, float[] k, float[] v, ShiftedSparseAttention pattern) {
        int group = H / KVH;
        Parallel.parallelFor(B * H, bh -> {
            int b = bh / H, h = bh % H, kvh = h / group;
            Scratch s = take();
            try {
                gather(s.k, k, b, 0, T, KVd, kvh, 1f);
                gather(s.v, v, b, 0, T, KVd, kvh, 1f);
                for (int t0 = 0; t0 < T; t0 += QUERY_BLOCK) {
                    int tb = Math.min(QUERY_BLOCK, T - t0), kLo = firstKey(pattern, h, t0), w = t0 + tb - kLo;
                    probabilities(s, q, b, h, t0, tb, kLo, pattern);
                    Matmul.matmulAB(s.outBlock, s.p, window(s.v, s.vWin, kLo, w), tb, w, hs);
                    scatter(out, s.outBlock, b, t0, tb, Qd, h, 1f);
                }
            } finally {
                free.push(s);
            }
        });
    }

    /**
     * Overwrites dq, dk, dv with the gradients of a loss whose gradient with respect to out is dout, for the
     * forward with the same {@code pattern}.
     */
    void backward(float[] dq, float[] dk, float[] dv, float[] dout, float[] q, float[] k, float[] v,
                  ShiftedSparseAttention pattern) {
        int group = H / KVH;
        Parallel.parallelFor(B * KVH, bk -> {
            int b = bk / KVH, kvh = bk % KVH;
            Scratch s = take();
            try {
                gather(s.k, k, b, 0, T, KVd, kvh, 1f);
                gather(s.v, v, b, 0, T, KVd, kvh, 1f);
                Arrays.fill(s.dk, 0f);
                Arrays.fill(s.dv, 0f);
                for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                    for (int t0 = 0; t0 < T; t0 += QUERY_BLOCK) {
                        int tb = Math.min(QUERY_BLOCK, T - t0), kLo = firstKey(pattern, h, t0), w = t0 + tb - kLo;
                        float[] kw = window(s.k, s.kWin, kLo, w), vw = window(s.v, s.vWin, kLo, w);
                        // the window's key gradients: dk, dv themselves when it starts at key 0, else zeroed scratch
                        float[] dkw = kLo == 0 ? s.dk : s.dkWin, dvw = kLo == 0 ? s.dv : s.dvWin;
                        if (kLo != 0) {
                            Arrays.fill(dkw, 0, w * hs, 0f);
                            Arrays.fill(dvw, 0, w * hs, 0f);
                        }
                        probabilities(s, q, b, h, t0, tb, kLo, pattern);
                        gather(s.outBlock, dout, b, t0, tb, Qd, h, 1f);               // dout of the block
                        Matmul.matmulABt(s.dp, s.outBlock, vw, tb, hs, w);           // dp = dout·vᵀ
                        Matmul.matmulAtBAccumulate(dvw, s.p, s.outBlock, tb, w, hs); // dv += pᵀ·dout
                        for (int r = 0; r < tb; r++) {                               // dS, in place of dp
                            int lo = firstKey(pattern, h, t0 + r) - kLo, row = r * w;
                            Arrays.fill(s.dp, row, row + lo, 0f);
                            ops.softmaxBackward(s.dp, row + lo, s.dp, row + lo, s.p, row + lo, w - lo, t0 + r + 1 - kLo - lo);
                        }
                        Matmul.matmulAtBAccumulate(dkw, s.dp, s.qBlock, tb, w, hs);  // dk += dSᵀ·qs
                        Matmul.matmulAB(s.outBlock, s.dp, kw, tb, w, hs);            // dS·k
                        scatter(dq, s.outBlock, b, t0, tb, Qd, h, scale);
                        if (kLo != 0) {
                            for (int i = 0; i < w * hs; i++) {
                                s.dk[kLo * hs + i] += dkw[i];
                                s.dv[kLo * hs + i] += dvw[i];
                            }
                        }
                    }
                }
                scatter(dk, s.dk, b, 0, T, KVd, kvh, 1f);
                scatter(dv, s.dv, b, 0, T, KVd, kvh, 1f);
            } finally {
                free.push(s);
            }
        });
    }

    /** Rows [kLo, kLo + w) of a head's [T × hs] keys or values: the array itself when kLo = 0, else copied to win. */
    private float[] window(float[] all, float[] win, int kLo, int w) {
        if (kLo == 0) {
            return all;
        }
        System.arraycopy(all, kLo * hs, win, 0, w * hs);
        return win;
    }

    private static int firstKey(ShiftedSparseAttention pattern, int h, int H, int t) {
        return pattern == null ? 0 : pattern.firstKey(h, H, t);
    }

    private int firstKey(ShiftedSparseAttention pattern, int h, int t) {
        return firstKey(pattern, h, H, t);
    }

    /**
     * s.p [tb × w] = softmax of qs·kᵀ for queries t0 … t0+tb−1 of head h over keys kLo … kLo+w−1 (w = t0 + tb − kLo),
     * row r unmasked from key firstKey(h, t0 + r) to t0 + r and zero elsewhere; s.qBlock = the block's scaled
     * queries. Forward and backward both call this, so the backward's probabilities are the forward's bit for bit.
     */
    private void probabilities(Scratch s, float[] q, int b, int h, int t0, int tb, int kLo,
                               ShiftedSparseAttention pattern) {
        int w = t0 + tb - kLo;
        gather(s.qBlock, q, b, t0, tb, Qd, h, scale);
        Matmul.matmulABt(s.p, s.qBlock, window(s.k, s.kWin, kLo, w), tb, hs, w);
        for (int r = 0; r < tb; r++) {
            int lo = firstKey(pattern, h, t0 + r) - kLo, row = r * w;
            Arrays.fill(s.p, row, row + lo, 0f);
            ops.softmaxForward(s.p, row + lo, s.p, row + lo, w - lo, t0 + r + 1 - kLo - lo);
        }
    }

    /** dst[r·hs + i] = alpha·src[(b·T + t0 + r)·width + head·hs + i] for r &lt; rows. */
    private void gather(float[] dst, float[] src, int b, int t0, int rows, int width, int head, float alpha) {
        for (int r = 0; r < rows; r++) {
            int o = (b * T + t0 + r) * width + head * hs;
            for (int i = 0; i < hs; i++) {
                dst[r * hs + i] = alpha * src[o + i];
            }
        }
    }

    /** dst[(b·T + t0 + r)·width + head·hs + i] = alpha·src[r·hs + i] for r &lt; rows. */
    private void scatter(float[] dst, float[] src, int b, int t0, int rows, int width, int head, float alpha) {
        for (int r = 0; r < rows; r++) {
            int o = (b * T + t0 + r) * width + head * hs;
            for (int i = 0; i < hs; i++) {
                dst[o + i] = alpha * src[r * hs + i];
            }
        }
    }

    private Scratch take() {
        Scratch s = free.poll();
        return s != null ? s : new Scratch();
    }
}
