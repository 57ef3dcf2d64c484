package dev.jlora.engine.infer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.LinearAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.infer.ref.DenseMatrix;
import dev.jlora.engine.infer.ref.LlamaForwardRef;
import dev.jlora.engine.infer.ref.TinyModels;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaConfig.RopeScaling;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

class InferenceSessionTest {
    /** fp32 forward vs the float64 reference: logits are O(1..10), float rounding over 2 layers stays below this. */
    static final double ABS = 2e-4, REL = 1e-4;

    static Stream<Arguments> configs() {
        return Stream.of(
                Arguments.of("llama interleaved GQA", TinyModels.config(true, false, false, RopeScaling.NONE)),
                Arguments.of("qwen2 half-split bias tied", TinyModels.config(false, true, true, RopeScaling.NONE)),
                Arguments.of("linear scaling", TinyModels.config(false, false, false,
                        new RopeScaling(RopeScaling.Type.LINEAR, 4f, 0, 0f, 0f))),
                Arguments.of("llama3 scaling", TinyModels.config(true, false, false,
                        new RopeScaling(RopeScaling.Type.LLAMA3, 8f, 16, 1f, 4f))),
                // hs 4, theta 1e4, original context 16: pair 0 extrapolates, pair 1 interpolates; temperature 1.139.
                Arguments.of("yarn scaling", TinyModels.config(true, false, false,
                        RopeScaling.yarn(4f, 16, 32f, 1f, RopeScaling.yarnMscale(4, 1)))));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void everyPositionMatchesFloat64Reference(String name, LlamaConfig c) {
        long seed = 11;
        LlamaWeights w = TinyModels.weights(c, seed);
        int[] tokens = TinyModels.tokens(seed + 1, 13, c.vocabSize());
        double[][] ref = LlamaForwardRef.logits(c, w, tokens);
        var s = new InferenceSession(new LlamaModel(c, w, null), AdapterSet.NONE, 32, 5);
        float[] got = s.forwardAllLogits(tokens);
        assertEquals(tokens.length, s.position());
        for (int t = 0; t < tokens.length; t++) {
            for (int i = 0; i < c.vocabSize(); i++) {
                double r = ref[t][i], g = got[t * c.vocabSize() + i];
                assertTrue(Math.abs(r - g) <= ABS + REL * Math.abs(r),
                        name + " seed " + seed + ": logit[" + t + "][" + i + "] ref " + r + " got " + g);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void prefillEqualsTokenByTokenDecode(String name, LlamaConfig c) {
        LlamaWeights w = TinyModels.weights(c, 5);
        int[] tokens = TinyModels.tokens(6, 17, c.vocabSize());
        var model = new LlamaModel(c, w, null);
        // prefill in chunks of 4 (17 = 4·4 + 1 exercises the tail chunk) vs one token at a time
        float[] all = new InferenceSession(model, AdapterSet.NONE, 32, 4).forwardAllLogits(tokens);
        var dec = new InferenceSession(model, AdapterSet.NONE, 32, 4);
        int V = c.vocabSize();
        for (int t = 0; t < tokens.length; t++) {
            float[] step = dec.decode(tokens[t]);
            for (int i = 0; i < V; i++) {
                // same fp32 arithmetic in a different order (chunked matmul rows vs single rows): 1e-5
                assertEquals(all[t * V + i], step[i], 1e-5 + 1e-5 * Math.abs(step[i]), name + " logit[" + t + "][" + i + "]");
            }
        }
        var pre = new InferenceSession(model, AdapterSet.NONE, 32, 4);
        float[] last = pre.prefill(tokens).clone();
        for (int i = 0; i < V; i++) {
            assertEquals(all[(tokens.length - 1) * V + i], last[i], 1e-5 + 1e-5 * Math.abs(last[i]), name + " last[" + i + "]");
        }
        // continuing after a prefill matches continuing after decodes
        float[] a = pre.decode(3).clone();
        float[] b = dec.decode(3);
        for (int i = 0; i < V; i++) {
            assertEquals(b[i], a[i], 1e-5 + 1e-5 * Math.abs(a[i]), name + " next[" + i + "]");
        }
    }

    /** A 48-token chunk is over {@link Attention#PARALLEL_THRESHOLD}: heads run on the shared pool. */
    @Test
    void longChunkWithParallelHeadsMatchesFloat64Reference() {
        LlamaConfig c = TinyModels.config(false, true, false, RopeScaling.NONE);
        LlamaWeights w = TinyModels.weights(c, 77);
        int[] tokens = TinyModels.tokens(78, 48, c.vocabSize());
        assertTrue(2L * c.nHeads() * 48 * 48 * c.headDim() >= Attention.PARALLEL_THRESHOLD);
        double[][] ref = LlamaForwardRef.logits(c, w, tokens);
        float[] got = new InferenceSession(new LlamaModel(c, w, null), AdapterSet.NONE, 64, 48).forwardAllLogits(tokens);
        for (int t = 0; t < tokens.length; t++) {
            for (int i = 0; i < c.vocabSize(); i++) {
                double r = ref[t][i];
                assertEquals(r, got[t * c.vocabSize() + i], ABS + REL * Math.abs(r), "seed 77: logit[" + t + "][" + i + "]");
            }
        }
    }

    @Test
    void fp16KvCacheMatchesFloat64ReferenceWithKeysAndValuesRoundedToFp16() {
        // 48 positions: three pages of 16 filled in chunks of 20 (a chunk ends inside a page), heads in parallel
        LlamaConfig c = TinyModels.config(false, true, false, RopeScaling.NONE);
        LlamaWeights w = TinyModels.weights(c, 77);
        int[] tokens = TinyModels.tokens(78, 48, c.vocabSize());
        double[][] rounded = LlamaForwardRef.logits(c, w, tokens, true), exact = LlamaForwardRef.logits(c, w, tokens);
        var pool = KvPagePool.forPositions(c, 64, KvCacheType.F16);
        assertEquals(InferenceSession.kvCacheBytes(c, KvPagePool.DEFAULT_PAGE_SIZE, KvCacheType.F16), pool.pageBytes());
        assertEquals(InferenceSession.kvCacheBytes(c, 64) / 2, InferenceSession.kvCacheBytes(c, 64, KvCacheType.F16));
        float[] got = new InferenceSession(new LlamaModel(c, w, null), AdapterSet.NONE, 64, 20, pool).forwardAllLogits(tokens);
        double offExact = 0;
        for (int t = 0; t < tokens.length; t++) {
            for (int i = 0; i < c.vocabSize(); i++) {
                double r = rounded[t][i], g = got[t * c.vocabSize() + i];
                assertEquals(r, g, ABS + REL * Math.abs(r), "seed 77: logit[" + t + "][" + i + "]");
                offExact = Math.max(offExact, Math.abs(exact[t][i] - g) - (ABS + REL * Math.abs(exact[t][i])));
            }
        }
        assertTrue(offExact > 0, "the fp16 cache should move some logit past the fp32 tolerance of the unrounded reference");
    }

    @Test
    void rewindRecomputesTheSameLogits() {
        LlamaConfig c = TinyModels.config(true, false, false, RopeScaling.NONE);
        var s = new InferenceSession(new LlamaModel(c, TinyModels.weights(c, 9), null), AdapterSet.NONE, 16);
        int[] prompt = TinyModels.tokens(10, 6, c.vocabSize());
        s.prefill(prompt);
        float[] first = s.decode(7).clone();
        s.rewind(prompt.length);
        float[] again = s.decode(7);
        for (int i = 0; i < first.length; i++) {
            assertEquals(first[i], again[i], 0.0, "logit " + i);
        }
    }

    /** Δ(x) = x·(B·A)ᵀ applied unmerged must equal the base model with W + B·A merged (float64 reference). */
    @Test
    void unmergedAdaptersEqualMergedWeights() {
        LlamaConfig c = TinyModels.config(false, true, false, RopeScaling.NONE);
        LlamaWeights w = TinyModels.weights(c, 21);
        var rnd = new SplittableRandom(22);
        int r = 2;
        Target[] targets = Target.values();
        LinearAdapter[][] ad = new LinearAdapter[c.nLayers()][targets.length];
        List<LlamaWeights.Layer> merged = new ArrayList<>();
        for (int l = 0; l < c.nLayers(); l++) {
            LlamaWeights.Layer L = w.layers().get(l);
            DenseMatrix[] base = {(DenseMatrix) L.wq(), (DenseMatrix) L.wk(), (DenseMatrix) L.wv(), (DenseMatrix) L.wo(),
                    (DenseMatrix) L.wGate(), (DenseMatrix) L.wUp(), (DenseMatrix) L.wDown()};
            DenseMatrix[] m = new DenseMatrix[base.length];
            for (int ti = 0; ti < targets.length; ti++) {
                int OC = base[ti].rows(), IC = base[ti].cols();
                DenseMatrix A = TinyModels.matrix(rnd, r, IC, 0.3), B = TinyModels.matrix(rnd, OC, r, 0.3);
                float[] wm = base[ti].w().clone();
                for (int o = 0; o < OC; o++) {
                    for (int i = 0; i < IC; i++) {
                        double d = 0;
                        for (int j = 0; j < r; j++) {
                            d += B.at(o, j) * A.at(j, i);
                        }
                        wm[o * IC + i] += (float) d;
                    }
                }
                m[ti] = new DenseMatrix(OC, IC, wm);
                ad[l][ti] = (x, T, y) -> {
                    float[] h = new float[T * r], dy = new float[T * OC];
                    A.matmul(x, T, h);
                    B.matmul(h, T, dy);
                    for (int i = 0; i < T * OC; i++) {
                        y[i] += dy[i];
                    }
                };
            }
            merged.add(new LlamaWeights.Layer(L.attnNorm(), m[0], m[1], m[2], m[3], L.bq(), L.bk(), L.bv(),
                    L.ffnNorm(), m[4], m[5], m[6]));
        }
        LlamaWeights mw = new LlamaWeights(w.tokenEmbedding(), merged, w.finalNorm(), w.output());
        AdapterSet set = (layer, target) -> ad[layer][target.ordinal()];
        int[] tokens = TinyModels.tokens(23, 9, c.vocabSize());
        double[][] ref = LlamaForwardRef.logits(c, mw, tokens);
        float[] got = new InferenceSession(new LlamaModel(c, w, null), set, 16, 4).forwardAllLogits(tokens);
        for (int t = 0; t < tokens.length; t++) {
            for (int i = 0; i < c.vocabSize(); i++) {
                double e = ref[t][i];
                assertEquals(e, got[t * c.vocabSize() + i], ABS + REL * Math.abs(e), "logit[" + t + "][" + i + "]");
            }
        }
    }

    @Test
    void badInputGivesClearErrors() {
        LlamaConfig c = TinyModels.config(true, false, false, RopeScaling.NONE);
        var s = new InferenceSession(new LlamaModel(c, TinyModels.weights(c, 1), null), AdapterSet.NONE, 4);
        var e = assertThrows(IllegalArgumentException.class, () -> s.decode(c.vocabSize()));
        assertTrue(e.getMessage().contains("outside the vocabulary 0..36"), e.getMessage());
        s.prefill(new int[] {1, 2, 3});
        var full = assertThrows(IllegalStateException.class, () -> s.prefill(new int[] {1, 2}));
        assertTrue(full.getMessage().contains("context full"), full.getMessage());

        LlamaConfig wrong = new LlamaConfig("llama", 24, 40, 2, 6, 3, 4, 37, 64, 1e-5f, 10000f,
                RopeScaling.NONE, true, false, false);
        var shape = assertThrows(IllegalArgumentException.class,
                () -> new InferenceSession(new LlamaModel(wrong, TinyModels.weights(c, 1), null), AdapterSet.NONE, 4));
        assertEquals("weight 'blk.0.attn_k' is [8 × 24] but the config needs [12 × 24]", shape.getMessage());

        LlamaConfig yarn = TinyModels.config(true, false, false, RopeScaling.yarn(4f, 16, 1f, 1f, 1f));
        var y = assertThrows(IllegalArgumentException.class,
                () -> new InferenceSession(new LlamaModel(yarn, TinyModels.weights(yarn, 1), null), AdapterSet.NONE, 4));
        assertEquals("yarn rope scaling needs beta_fast > beta_slow, got 1.0 and 1.0", y.getMessage());
    }
}
