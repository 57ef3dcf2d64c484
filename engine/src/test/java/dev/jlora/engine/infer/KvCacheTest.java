package dev.jlora.engine.infer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.ref.LlamaForwardRef;
import dev.jlora.engine.infer.ref.TinyModels;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaConfig.RopeScaling;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The paged KV cache: page table arithmetic, the pool's budget, and paged attention against contiguous. */
class KvCacheTest {
    static final LlamaConfig CFG = TinyModels.config(true, false, false, RopeScaling.NONE);   // kvDim 8, ctx 64

    @Test
    void pagesForRoundsUpToWholePages() {
        assertEquals(0, KvCache.pagesFor(0, 16));
        assertEquals(1, KvCache.pagesFor(1, 16));
        assertEquals(1, KvCache.pagesFor(16, 16));
        assertEquals(2, KvCache.pagesFor(17, 16));
        assertEquals(3, KvCache.pagesFor(33, 16));
        assertEquals(7, KvCache.pagesFor(7, 1));
        assertEquals(3, KvCache.pagesFor(7, 3));
    }

    @Test
    void fp16PagesStoreTheRoundedKeysTransposedAndTheRoundedValuesAsRows() {
        var pool = new KvPagePool(CFG, 3, 4, KvCacheType.F16);
        int kvDim = CFG.kvDim();
        assertEquals(2L * CFG.nLayers() * 3 * kvDim * Short.BYTES, pool.pageBytes(), "fp16: half the bytes of fp32");
        var cache = new KvCache(pool, 12);
        assertTrue(cache.grow(5));
        float[] k = new float[4 * kvDim], v = new float[4 * kvDim];
        for (int i = 0; i < k.length; i++) {
            k[i] = 0.1f * i + 1e-4f;      // not representable in fp16: the stored value is rounded
            v[i] = -70000f + 5e4f * i;    // past fp16's largest finite value at i = 0: stored as −inf
        }
        cache.write(0, 1, k, 0, v, 0, 4);   // positions 1..4: the end of page 0 and the start of page 1
        for (int t = 0; t < 4; t++) {
            int p = 1 + t;
            KvPage page = cache.page(p / 3);
            assertNull(page.keys);
            for (int d = 0; d < kvDim; d++) {
                assertEquals(Float.floatToFloat16(k[t * kvDim + d]), page.keysF16[0][d * 3 + p % 3], "key " + p + "," + d);
                assertEquals(Float.floatToFloat16(v[t * kvDim + d]), page.valuesF16[0][(p % 3) * kvDim + d], "value " + p + "," + d);
            }
        }
        assertEquals(Float.NEGATIVE_INFINITY, Float.float16ToFloat(cache.page(0).valuesF16[0][kvDim]));
        assertEquals(KvCacheType.F16, KvCacheType.parse("F16"));
        var e = assertThrows(IllegalArgumentException.class, () -> KvCacheType.parse("q8_0"));
        assertTrue(e.getMessage().contains("expected f32 or f16"), e.getMessage());
    }

    @Test
    void pageTableGrowsPageByPageAndWritesAcrossPageBoundaries() {
        var pool = new KvPagePool(CFG, 3, 10);
        var cache = new KvCache(pool, 20);
        assertTrue(cache.grow(7));                    // 7 positions: pages of 3 → 3 pages
        assertEquals(3, cache.pageCount());
        assertEquals(9, cache.capacity());
        assertTrue(cache.grow(9));                    // still fits
        assertEquals(3, cache.pageCount());
        assertEquals(3, pool.kvPages());
        int kvDim = CFG.kvDim();
        // 5 rows at positions 2..6: the end of page 0, all of page 1, the start of page 2
        float[] k = new float[5 * kvDim], v = new float[5 * kvDim];
        for (int i = 0; i < k.length; i++) {
            k[i] = 100 + i;
            v[i] = -100 - i;
        }
        cache.write(1, 2, k, 0, v, 0, 5);
        for (int t = 0; t < 5; t++) {
            int p = 2 + t;
            KvPage page = cache.page(p / 3);
            for (int d = 0; d < kvDim; d++) {
                assertEquals(k[t * kvDim + d], page.keys[1][d * 3 + p % 3], "key of position " + p + " (transposed)");
                assertEquals(v[t * kvDim + d], page.values[1][(p % 3) * kvDim + d], "value of position " + p);
            }
        }
        assertEquals(0f, cache.page(0).keys[0][2], "layer 0 untouched");
        var e = assertThrows(IllegalStateException.class, () -> cache.grow(21));
        assertTrue(e.getMessage().contains("context size 20"), e.getMessage());
        cache.release();
        assertEquals(0, cache.pageCount());
        assertEquals(0, pool.kvPages());
        assertEquals(10, pool.freePages());
    }

    @Test
    void poolBudgetIsSharedAndPagesAreRecycled() throws Exception {
        var pool = new KvPagePool(CFG, 4, 5);
        assertEquals(2L * CFG.nLayers() * 4 * CFG.kvDim() * Float.BYTES, pool.pageBytes());
        var a = new KvCache(pool, 64);
        var b = new KvCache(pool, 64);
        assertTrue(a.grow(13));                       // 4 pages
        assertFalse(b.grow(8), "only one page left for 2");
        assertEquals(1, b.pageCount(), "keeps the page it got");
        assertEquals(0, pool.freePages());
        assertNull(pool.allocate());
        var freed = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<KvPage, Boolean>());
        for (int i = 0; i < a.pageCount(); i++) {
            freed.add(a.page(i));
        }
        a.release();
        assertTrue(b.grow(8));
        assertTrue(freed.contains(b.page(1)), "a freed page is reused, not reallocated");
        pool.reserve(2);                              // adapter weights take 2 of the 3 free pages
        assertEquals(2, pool.adapterPages());
        assertEquals(1, pool.freePages());
        assertTrue(pool.available(1));
        assertFalse(pool.available(2));
        assertNotNull(pool.allocate());
        var e = assertThrows(IllegalArgumentException.class, () -> pool.reserve(6));
        assertTrue(e.getMessage().contains("whole memory pool has 5"), e.getMessage());
    }

    /**
     * Paged attention reads the same numbers as a contiguous cache (one page of the whole context): a prompt of
     * odd length in chunks of 5 that straddle page boundaries, then single-token decodes. Logits within 1e-5 of the
     * contiguous session (summation order is the same; only the page walk differs) and within the fp32 tolerance
     * of the float64 reference forward.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 3, 16})
    void pagedAttentionEqualsContiguousAttention(int pageSize) {
        LlamaWeights w = TinyModels.weights(CFG, 5);
        var model = new LlamaModel(CFG, w, null);
        int[] tokens = TinyModels.tokens(6, 41, CFG.vocabSize());
        int ctx = CFG.contextLength();
        var contiguous = new InferenceSession(model, AdapterSet.NONE, ctx, 5, new KvPagePool(CFG, ctx, 1));
        var paged = new InferenceSession(model, AdapterSet.NONE, ctx, 5, new KvPagePool(CFG, pageSize, 64));
        int prompt = 37;
        float[] want = contiguous.prefill(java.util.Arrays.copyOf(tokens, prompt)).clone();
        float[] got = paged.prefill(java.util.Arrays.copyOf(tokens, prompt));
        assertClose(want, got, "prefill of " + prompt + " tokens, page size " + pageSize);
        assertEquals(KvCache.pagesFor(prompt, pageSize), paged.kvPages());
        double[][] ref = LlamaForwardRef.logits(CFG, w, tokens);
        for (int t = prompt; t < tokens.length; t++) {
            want = contiguous.decode(tokens[t]).clone();
            got = paged.decode(tokens[t]);
            assertClose(want, got, "decode at position " + t + ", page size " + pageSize);
            for (int i = 0; i < got.length; i++) {
                double r = ref[t][i];
                assertTrue(Math.abs(r - got[i]) <= InferenceSessionTest.ABS + InferenceSessionTest.REL * Math.abs(r),
                        "position " + t + " logit " + i + ": float64 reference " + r + ", paged " + got[i]);
            }
        }
    }

    static void assertClose(float[] want, float[] got, String what) {
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-5, what + ": logit " + i);
        }
    }
}
