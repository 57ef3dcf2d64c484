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

    /** out [B·T × H·hs] = attention of q [B·T × H·hs] over k, v [B·T × KVH·hs]. Overwrites out. */
    void forward(float[] out, float[] q, float[] k, float[] v) {
        int group = H / KVH;
        Parallel.parallelFor(B * H, bh -> {
            int b = bh / H, h = bh % H, kvh = h / group;
            Scratch s = take();
            try {
                gather(s.k, k, b, 0, T, KVd, kvh, 1f);
                gather(s.v, v, b, 0, T, KVd, kvh, 1f);
                for (int t0 = 0; t0 < T; t0 += QUERY_BLOCK) {
                    int tb = Math.min(QUERY_BLOCK, T - t0), t1 = t0 + tb;
                    probabilities(s, q, b, h, t0, tb);
                    Matmul.matmulAB(s.outBlock, s.p, s.v, tb, t1, hs);
                    scatter(out, s.outBlock, b, t0, tb, Qd, h, 1f);
                }
            } finally {
                free.push(s);
            }
        });
    }

    /** Overwrites dq, dk, dv with the gradients of a loss whose gradient with respect to out is dout. */
    void backward(float[] dq, float[] dk, float[] dv, float[] dout, float[] q, float[] k, float[] v) {
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
                        int tb = Math.min(QUERY_BLOCK, T - t0), t1 = t0 + tb;
                        probabilities(s, q, b, h, t0, tb);
                        gather(s.outBlock, dout, b, t0, tb, Qd, h, 1f);             // dout of the block
                        Matmul.matmulABt(s.dp, s.outBlock, s.v, tb, hs, t1);       // dp = dout·vᵀ
                        Matmul.matmulAtBAccumulate(s.dv, s.p, s.outBlock, tb, t1, hs);   // dv += pᵀ·dout
                        for (int r = 0; r < tb; r++) {                             // dS, in place of dp
                            ops.softmaxBackward(s.dp, r * t1, s.dp, r * t1, s.p, r * t1, t1, t0 + r + 1);
                        }
                        Matmul.matmulAtBAccumulate(s.dk, s.dp, s.qBlock, tb, t1, hs);    // dk += dSᵀ·qs
                        Matmul.matmulAB(s.outBlock, s.dp, s.k, tb, t1, hs);        // dS·k
                        scatter(dq, s.outBlock, b, t0, tb, Qd, h, scale);
                    }
                }
                scatter(dk, s.dk, b, 0, T, KVd, kvh, 1f);
                scatter(dv, s.dv, b, 0, T, KVd, kvh, 1f);
            } finally {
                free.push(s);
            }
        });
    }

    /**
     * s.p [tb × t1] = causal softmax of qs·kᵀ for queries t0..t0+tb of head h (row r unmasked up to key t0 + r),
     * and s.qBlock = the block's scaled queries. Forward and backward both call this, so the backward's
     * probabilities are the forward's bit for bit.
     */
    private void probabilities(Scratch s, float[] q, int b, int h, int t0, int tb) {
        int t1 = t0 + tb;
        gather(s.qBlock, q, b, t0, tb, Qd, h, scale);
        Matmul.matmulABt(s.p, s.qBlock, s.k, tb, hs, t1);
        for (int r = 0; r < tb; r++) {
            ops.softmaxForward(s.p, r * t1, s.p, r * t1, t1, t0 + r + 1);
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
