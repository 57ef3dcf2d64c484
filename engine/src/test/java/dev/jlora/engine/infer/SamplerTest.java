package dev.jlora.engine.infer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SamplerTest {
    /** Logits whose softmax is 1/2, 1/4, 1/8, 1/16, 1/32, 1/32 (ln of those), shuffled over ids. */
    static final int[] ORDER = {4, 0, 5, 2, 1, 3};   // ORDER[r] = id of the r-th most likely token
    static float[] halvingLogits() {
        double[] p = {0.5, 0.25, 0.125, 0.0625, 0.03125, 0.03125};
        float[] l = new float[6];
        for (int r = 0; r < 6; r++) {
            l[ORDER[r]] = (float) Math.log(p[r]);
        }
        return l;
    }

    static SamplerConfig cfg(int topK, float topP, float minP) {
        return new SamplerConfig(1f, topK, topP, minP, 1f, 64, 1L);
    }

    @Test
    void topKKeepsTheKLargestWithLowerIdsWinningTies() {
        float[] l = {0.5f, 3f, 3f, -1f, 2f, 3f, Float.NaN};
        assertArrayEquals(new int[] {1, 2, 5, 4}, new Sampler(cfg(4, 1f, 0f), 7).keptIds(l));
        assertArrayEquals(new int[] {1, 2}, new Sampler(cfg(2, 1f, 0f), 7).keptIds(l));
        // top-k 0 keeps everything, sorted; NaN last
        assertArrayEquals(new int[] {1, 2, 5, 4, 0, 3, 6}, new Sampler(cfg(0, 1f, 0f), 7).keptIds(l));
    }

    @Test
    void topPKeepsTheSmallestPrefixReachingP() {
        // cumulative 0.5, 0.75, 0.875, 0.9375, …
        assertArrayEquals(new int[] {4}, new Sampler(cfg(0, 0.4f, 0f), 6).keptIds(halvingLogits()));
        assertArrayEquals(new int[] {4, 0}, new Sampler(cfg(0, 0.7f, 0f), 6).keptIds(halvingLogits()));
        assertArrayEquals(new int[] {4, 0, 5}, new Sampler(cfg(0, 0.8f, 0f), 6).keptIds(halvingLogits()));
        assertArrayEquals(new int[] {4, 0, 5, 2}, new Sampler(cfg(0, 0.9f, 0f), 6).keptIds(halvingLogits()));
        // after top-k 2 the two survivors renormalise to 2/3, 1/3: top-p 0.6 keeps one, 0.7 keeps both
        assertArrayEquals(new int[] {4}, new Sampler(cfg(2, 0.6f, 0f), 6).keptIds(halvingLogits()));
        assertArrayEquals(new int[] {4, 0}, new Sampler(cfg(2, 0.7f, 0f), 6).keptIds(halvingLogits()));
    }

    @Test
    void minPKeepsTokensAtLeastMinPTimesTheTop() {
        // p / p_max = 1, 1/2, 1/4, 1/8, 1/16, 1/16
        assertArrayEquals(new int[] {4, 0, 5}, new Sampler(cfg(0, 1f, 0.2f), 6).keptIds(halvingLogits()));
        assertArrayEquals(new int[] {4, 0}, new Sampler(cfg(0, 1f, 0.3f), 6).keptIds(halvingLogits()));
        assertArrayEquals(new int[] {4, 0, 5, 2, 1, 3}, new Sampler(cfg(0, 1f, 0.05f), 6).keptIds(halvingLogits()));
        assertArrayEquals(new int[] {4}, new Sampler(cfg(0, 1f, 1f), 6).keptIds(halvingLogits()));
    }

    @Test
    void repeatPenaltyDividesPositiveAndMultipliesNegativeLogitsOncePerDistinctToken() {
        var s = new Sampler(new SamplerConfig(0f, 0, 1f, 0f, 2f, 3, 0L), 5);
        for (int t : new int[] {3, 0, 1, 0}) {   // window of 3 keeps 0, 1, 0: token 3 has left it
            s.accept(t);
        }
        float[] l = {2f, -2f, 1f, 4f, 0.5f};
        s.applyRepeatPenalty(l);
        assertArrayEquals(new float[] {1f, -4f, 1f, 4f, 0.5f}, l);
        // greedy sample sees the penalised logits: 3 wins
        assertEquals(3, s.sample(new float[] {5f, 0f, 0f, 4f, 0f}));
    }

    @Test
    void greedyIsArgmaxWithLowestIndexOnTies() {
        var s = new Sampler(SamplerConfig.greedy(), 5);
        assertEquals(1, s.sample(new float[] {0f, 7f, 7f, -1f, 6.9f}));
        assertEquals(0, Sampler.argmax(new float[] {-3f, -3f}, 2));
    }

    @Test
    void sameSeedSameTokensDifferentSeedDifferentTokens() {
        var rnd = new SplittableRandom(3);
        float[][] steps = new float[200][];
        for (int i = 0; i < steps.length; i++) {
            steps[i] = new float[50];
            for (int j = 0; j < 50; j++) {
                steps[i][j] = (float) rnd.nextGaussian();
            }
        }
        int[] a = run(steps, 42), b = run(steps, 42), c = run(steps, 43);
        assertArrayEquals(a, b, "seed 42 twice");
        assertFalse(Arrays.equals(a, c), "seeds 42 and 43 gave the same 200 tokens");
    }

    private static int[] run(float[][] steps, long seed) {
        var s = new Sampler(new SamplerConfig(0.9f, 20, 0.95f, 0.01f, 1.1f, 16, seed), 50);
        int[] out = new int[steps.length];
        for (int i = 0; i < steps.length; i++) {
            out[i] = s.sample(steps[i].clone());
            s.accept(out[i]);
        }
        return out;
    }

    /** The draw follows softmax(l / T): 40,000 seeded draws within 0.01 of the exact probabilities (≈ 4 σ). */
    @Test
    void drawFrequenciesFollowTemperedSoftmax() {
        float[] l = {1f, 2f, 0f, 1.5f};
        float temp = 0.7f;
        var s = new Sampler(new SamplerConfig(temp, 0, 1f, 0f, 1f, 0, 5L), 4);
        int[] count = new int[4];
        int N = 40_000;
        for (int i = 0; i < N; i++) {
            count[s.sample(l.clone())]++;
        }
        double z = 0;
        for (float x : l) z += Math.exp(x / temp);
        for (int i = 0; i < 4; i++) {
            assertEquals(Math.exp(l[i] / temp) / z, count[i] / (double) N, 0.01, "seed 5: p[" + i + "]");
        }
    }

    @Test
    void badConfigIsRejectedWithTheField() {
        var e = assertThrows(IllegalArgumentException.class, () -> new SamplerConfig(1f, 0, 1.5f, 0f, 1f, 64, 0));
        assertEquals("top-p must be in (0, 1] (1 = off), got 1.5", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new SamplerConfig(1f, -1, 1f, 0f, 1f, 64, 0));
        assertThrows(IllegalArgumentException.class, () -> new SamplerConfig(1f, 0, 1f, 0f, 0f, 64, 0));
    }
}
