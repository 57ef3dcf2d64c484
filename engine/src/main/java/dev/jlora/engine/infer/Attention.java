package dev.jlora.engine.infer;

/**
 * Causal grouped-query self-attention over the KV cache (Vaswani et al. 2017 §3.2.1; GQA, Ainslie et al. 2023):
 * query head h reads key/value head h / (H / KVH). Query t of a chunk sits at position p0 + t and attends to
 * positions 0 .. p0 + t. Holds one score row per head so heads can run in parallel without allocating.
 */
final class Attention {
    private final int H, KVH, hs, group;
    private final float scale;
    private final float[] scores;   // [H × ctx]
    private final int ctx;

    Attention(int nHeads, int nKvHeads, int headDim, int contextSize) {
        this.H = nHeads;
        this.KVH = nKvHeads;
        this.hs = headDim;
        this.group = nHeads / nKvHeads;
        this.scale = (float) (1.0 / Math.sqrt(headDim));
        this.ctx = contextSize;
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
        for (int h = 0; h < H; h++) {
            head(h, out, q, kc, vc, p0, T);
        }
    }

    private void head(int h, float[] out, float[] q, float[] kc, float[] vc, int p0, int T) {
        final int qDim = H * hs, kvDim = KVH * hs;
        final int kvOff = (h / group) * hs;
        final int sOff = h * ctx;
        for (int t = 0; t < T; t++) {
            int qOff = t * qDim + h * hs;
            int n = p0 + t + 1;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) {
                int kOff = j * kvDim + kvOff;
                float s = 0f;
                for (int i = 0; i < hs; i++) {
                    s += q[qOff + i] * kc[kOff + i];
                }
                s *= scale;
                scores[sOff + j] = s;
                if (s > max) {
                    max = s;
                }
            }
            float sum = 0f;
            for (int j = 0; j < n; j++) {
                float e = (float) Math.exp(scores[sOff + j] - max);
                scores[sOff + j] = e;
                sum += e;
            }
            float inv = 1f / sum;
            int oOff = t * qDim + h * hs;
            for (int i = 0; i < hs; i++) {
                out[oOff + i] = 0f;
            }
            for (int j = 0; j < n; j++) {
                float p = scores[sOff + j] * inv;
                int vOff = j * kvDim + kvOff;
                for (int i = 0; i < hs; i++) {
                    out[oOff + i] += p * vc[vOff + i];
                }
            }
        }
    }
}
