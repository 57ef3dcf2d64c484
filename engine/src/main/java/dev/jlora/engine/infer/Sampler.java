package dev.jlora.engine.infer;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token. Stages run in llama.cpp's default order ({@code common/sampling.cpp}): repetition penalty →
 * top-k → top-p → min-p → temperature → seeded draw. Top-p and min-p look at the probabilities before temperature, as
 * llama.cpp does. Every buffer is allocated here, so {@link #sample} allocates nothing.
 *
 * <p>Not thread-safe: one sampler per generated sequence.
 */
public final class Sampler {
    private final SamplerConfig cfg;
    private final int V;
    private final SplittableRandom rng;
    private final int[] recent;      // ring of the last repeatLastN accepted tokens
    private int recentCount, recentNext;
    private final int[] seenStamp;   // [V] dedupe for the penalty, compared against stamp
    private int stamp;
    private final long[] keys;       // candidates as (sortable logit bits << 32 | 0x7fffffff − id)
    private final int[] ids;         // surviving candidates, most likely first
    private final float[] probs;     // their probabilities
    private int n;

    public Sampler(SamplerConfig config, int vocabSize) {
        this.cfg = config;
        this.V = vocabSize;
        this.rng = new SplittableRandom(config.seed());
        this.recent = new int[config.repeatLastN()];
        this.seenStamp = new int[vocabSize];
        this.keys = new long[vocabSize];
        this.ids = new int[vocabSize];
        this.probs = new float[vocabSize];
    }

    public SamplerConfig config() {
        return cfg;
    }

    /** Records a token of the sequence (prompt or generated) for the repetition penalty. */
    public void accept(int token) {
        if (recent.length == 0) {
            return;
        }
        recent[recentNext] = token;
        recentNext = (recentNext + 1) % recent.length;
        recentCount = Math.min(recentCount + 1, recent.length);
    }

    /** Forgets the accepted tokens (the random stream continues). */
    public void resetHistory() {
        recentCount = 0;
        recentNext = 0;
    }

    /**
     * The next token for {@code logits} [V]. Applies the repetition penalty to {@code logits} in place. Does not
     * {@link #accept} the result.
     */
    public int sample(float[] logits) {
        applyRepeatPenalty(logits);
        if (cfg.isGreedy()) {
            return argmax(logits, V);
        }
        filter(logits);
        // temperature, then a draw from softmax(l / temperature) over the survivors
        float inv = 1f / cfg.temperature();
        float max = logits[ids[0]] * inv;
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(logits[ids[i]] * inv - max);
            probs[i] = e;
            sum += e;
        }
        double r = rng.nextDouble() * sum;
        double acc = 0;
        for (int i = 0; i < n; i++) {
            acc += probs[i];
            if (r < acc) {
                return ids[i];
            }
        }
        return ids[n - 1];
    }

    /** Index of the largest of a[0..n), the lowest index on ties. */
    public static int argmax(float[] a, int n) {
        int best = 0;
        float bv = a[0];
        for (int i = 1; i < n; i++) {
            if (a[i] > bv) {
                bv = a[i];
                best = i;
            }
        }
        return best;
    }

    /**
     * CTRL (Keskar et al. 2019 §4.1), as llama.cpp applies it: each distinct recent token's logit l becomes l / θ when
     * positive and l · θ otherwise, so the token always gets less likely for θ > 1.
     */
    void applyRepeatPenalty(float[] logits) {
        float theta = cfg.repeatPenalty();
        if (theta == 1f || recentCount == 0) {
            return;
        }
        if (++stamp == 0) {
            Arrays.fill(seenStamp, 0);
            stamp = 1;
        }
        for (int i = 0; i < recentCount; i++) {
            int t = recent[i];
            if (t < 0 || t >= V || seenStamp[t] == stamp) {
                continue;
            }
            seenStamp[t] = stamp;
            logits[t] = logits[t] > 0 ? logits[t] / theta : logits[t] * theta;
        }
    }

    /** Top-k, top-p and min-p: leaves the survivors in ids[0..n), most likely first. Returns n. */
    int filter(float[] logits) {
        int k = cfg.topK() > 0 ? Math.min(cfg.topK(), V) : V;
        int m = selectTop(logits, k);
        Arrays.sort(keys, 0, m);
        for (int i = 0; i < m; i++) {
            ids[i] = 0x7fffffff - (int) keys[m - 1 - i];
        }
        n = m;
        // probabilities before temperature (llama.cpp applies top-p and min-p ahead of temperature)
        float max = logits[ids[0]];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(logits[ids[i]] - max);
            probs[i] = e;
            sum += e;
        }
        if (cfg.topP() < 1f) {
            double cum = 0;
            int keep = n;
            for (int i = 0; i < n; i++) {
                cum += probs[i] / sum;
                if (cum >= cfg.topP()) {
                    keep = i + 1;
                    break;
                }
            }
            n = keep;
            sum = 0;
            for (int i = 0; i < n; i++) {
                sum += probs[i];
            }
        }
        if (cfg.minP() > 0f) {
            // p_i ≥ minP · p_max ⇔ exp(l_i − l_max) ≥ minP; probs[0] = 1 is the top
            int keep = 1;
            while (keep < n && probs[keep] >= cfg.minP()) {
                keep++;
            }
            n = keep;
        }
        return n;
    }

    /** The ids {@link #filter} keeps for {@code logits}, most likely first (for tests and diagnostics). */
    int[] keptIds(float[] logits) {
        return Arrays.copyOf(ids, filter(logits));
    }

    /** Puts the keys of the k largest logits into keys[0..k) (unordered) with a min-heap; returns k. */
    private int selectTop(float[] logits, int k) {
        if (k == V) {
            for (int i = 0; i < V; i++) {
                keys[i] = key(logits[i], i);
            }
            return V;
        }
        int size = 0;
        for (int i = 0; i < V; i++) {
            long key = key(logits[i], i);
            if (size < k) {
                int c = size++;
                keys[c] = key;
                while (c > 0) {
                    int p = (c - 1) >>> 1;
                    if (keys[p] <= keys[c]) {
                        break;
                    }
                    long tmp = keys[p];
                    keys[p] = keys[c];
                    keys[c] = tmp;
                    c = p;
                }
            } else if (key > keys[0]) {
                keys[0] = key;
                int c = 0;
                while (true) {
                    int l = 2 * c + 1, r = l + 1, s = c;
                    if (l < k && keys[l] < keys[s]) s = l;
                    if (r < k && keys[r] < keys[s]) s = r;
                    if (s == c) break;
                    long tmp = keys[s];
                    keys[s] = keys[c];
                    keys[c] = tmp;
                    c = s;
                }
            }
        }
        return k;
    }

    /** Orders by logit, then by lower id first; NaN logits sort below everything. */
    private static long key(float logit, int id) {
        int bits = Float.floatToRawIntBits(logit);
        // flip the magnitude of negatives so that signed int order equals float order
        int sortable = Float.isNaN(logit) ? Integer.MIN_VALUE : bits >= 0 ? bits : bits ^ 0x7fffffff;
        return ((long) sortable << 32) | (0x7fffffffL - id);
    }
}
