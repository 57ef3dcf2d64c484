package dev.jlora.engine.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.ref.LlamaRef;
import dev.jlora.engine.ref.TinyLlama;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** LongLoRA's S²-Attn (Chen et al. 2023, §3.2) in the training graph. */
class ShiftedSparseAttentionTest {
    static final int B = 2, T = 8, G = 4;

    /**
     * The reference implementation's partition (forward_flashattn's cu_seqlens), written as segment boundaries:
     * unshifted heads cut at 0, G, 2G, …, T; shifted heads at 0, G/2, G/2 + G, …, T. A key is visible when it is
     * not later than the query and in the same segment.
     */
    static LlamaRef.AttentionMask segmentMask(int T, int G, int H) {
        int[][] cuts = new int[2][];
        cuts[0] = java.util.stream.IntStream.iterate(0, c -> c <= T, c -> c + G).toArray();
        var shifted = new java.util.ArrayList<Integer>();
        shifted.add(0);
        for (int c = G / 2; c < T; c += G) {
            shifted.add(c);
        }
        shifted.add(T);
        cuts[1] = shifted.stream().mapToInt(Integer::intValue).toArray();
        return (h, t, s) -> {
            int[] c = cuts[h < H / 2 ? 0 : 1];
            return s <= t && segment(c, s) == segment(c, t);
        };
    }

    private static int segment(int[] cuts, int pos) {
        int i = 0;
        while (cuts[i + 1] <= pos) {
            i++;
        }
        return i;
    }

    @ParameterizedTest(name = "T={0} G={1} H={2}")
    @CsvSource({"16,4,4", "16,8,2", "16,16,6", "12,2,2"})
    void patternEqualsIndependentlyBuiltSegmentMask(int T, int G, int H) {
        var pattern = ShiftedSparseAttention.of(G);
        pattern.check(T, H);
        var mask = segmentMask(T, G, H);
        int sparse = 0;
        for (int h = 0; h < H; h++) {
            for (int t = 0; t < T; t++) {
                int lo = pattern.firstKey(h, H, t);
                for (int s = 0; s < T; s++) {
                    boolean graphSees = s >= lo && s <= t;
                    assertEquals(mask.visible(h, t, s), graphSees, "head " + h + " query " + t + " key " + s);
                    sparse += (s <= t && !graphSees) ? 1 : 0;
                }
            }
        }
        assertTrue(sparse > 0, "some causal keys are hidden");
        // the first G/2 positions of a shifted head form their own half group: position G/2 starts a new one
        assertEquals(G / 2, pattern.firstKey(H - 1, H, G / 2));
        assertEquals(0, pattern.firstKey(H - 1, H, G / 2 - 1));
    }

    static LlamaTrainGraphTest.Setup setup(long seed) {
        // C=8, hidden 12, 2 layers, 2 query heads (head 0 unshifted, head 1 shifted) sharing 1 kv head, vocab 11
        LlamaConfig cfg = TinyLlama.config(8, 12, 2, 2, 1, 11, true, false);
        var w = TinyLlama.weights(cfg, seed);
        var ad = TrainableAdapterSet.lora(w, new LoraConfig(2, 4f, 0f, false, EnumSet.allOf(Target.class)), seed + 1);
        var rnd = new SplittableRandom(seed + 2);
        for (Parameter p : ad.parameters()) {
            if (p.name().endsWith("lora_B")) {   // B = 0 at init would make every dA zero
                for (int i = 0; i < p.size(); i++) {
                    p.value()[i] = (float) ((rnd.nextDouble() * 2 - 1) * 0.5);
                }
            }
        }
        int[] in = new int[B * T], tgt = new int[B * T];
        for (int i = 0; i < in.length; i++) {
            in[i] = rnd.nextInt(cfg.vocabSize());
            tgt[i] = rnd.nextInt(cfg.vocabSize());
        }
        tgt[3] = -100;
        return new LlamaTrainGraphTest.Setup(cfg, w, ad, in, tgt);
    }

    @ParameterizedTest(name = "checkpointing={0}")
    @CsvSource({"false", "true"})
    void gradientsMatchFloat64FiniteDifferencesOfTheMaskedReference(boolean checkpointing) {
        var s = setup(11);
        var graph = new LlamaTrainGraph(s.cfg(), s.w(), s.ad(), B, T, checkpointing);
        graph.useSparseAttention(ShiftedSparseAttention.of(G));
        double loss = graph.forwardBackward(s.in(), s.tgt(), 0, 1f).loss();
        LlamaRef ref = LlamaTrainGraphTest.reference(s).withAttentionMask(segmentMask(T, G, s.cfg().nHeads()));
        // float32 forward of a 2-layer model vs float64: ~1e-6 relative
        assertEquals(ref.loss(s.in(), s.tgt(), B, T), loss, 2e-5, "loss vs float64 reference with the segment mask");
        double full = LlamaTrainGraphTest.reference(s).loss(s.in(), s.tgt(), B, T);
        assertTrue(Math.abs(full - loss) > 1e-4, "S²-Attn changes the loss (full " + full + ", sparse " + loss + ")");

        double eps = 1e-5, maxGrad = 0;
        for (int l = 0; l < s.cfg().nLayers(); l++) {
            // Q, K, V: their gradients pass through the attention backward
            for (Target t : new Target[] {Target.Q, Target.K, Target.V, Target.O}) {
                var a = (LoraAdapter) s.ad().get(l, t);
                double[][] ab = ref.lora().get(LlamaRef.key(l, t));
                for (int which = 0; which < 2; which++) {
                    double[] v = ab[which];
                    float[] grad = which == 0 ? a.loraA().grad() : a.loraB().grad();
                    for (int i = 0; i < v.length; i++) {
                        double keep = v[i];
                        v[i] = keep + eps;
                        double up = ref.loss(s.in(), s.tgt(), B, T);
                        v[i] = keep - eps;
                        double down = ref.loss(s.in(), s.tgt(), B, T);
                        v[i] = keep;
                        double fd = (up - down) / (2 * eps);   // truncation O(eps²) ≈ 1e-10
                        // float32 backward vs float64 central differences: 1e-5 absolute + 1e-4 relative (as the
                        // full-attention check in LlamaTrainGraphTest)
                        assertEquals(fd, grad[i], 1e-5 + 1e-4 * Math.abs(fd),
                                "layer " + l + " " + t + (which == 0 ? " A[" : " B[") + i + "]");
                        maxGrad = Math.max(maxGrad, Math.abs(fd));
                    }
                }
            }
        }
        assertTrue(maxGrad > 1e-3, "gradients are not trivially zero (max |g| = " + maxGrad + ")");
    }

    @Test
    void oneUnshiftedGroupOfTheWholeSequenceIsFullCausalAttention() {
        Map<String, float[]> grads = new HashMap<>();
        double[] losses = new double[2];
        for (int run = 0; run < 2; run++) {
            var s = setup(5);
            var graph = new LlamaTrainGraph(s.cfg(), s.w(), s.ad(), B, T, false);
            if (run == 1) {
                graph.useSparseAttention(new ShiftedSparseAttention(T, false));
            }
            losses[run] = graph.forwardBackward(s.in(), s.tgt(), 0, 1f).loss();
            for (Parameter p : s.ad().parameters()) {
                if (run == 0) {
                    grads.put(p.name(), p.grad().clone());
                } else {
                    // the same float operations over the same keys; 1e-6 allows JIT-tier differences of reductions
                    assertArrayEquals(grads.get(p.name()), p.grad(), 1e-6f, p.name());
                }
            }
        }
        assertEquals(losses[0], losses[1], 1e-6, "G = T without shift vs full causal attention");
    }

    @Test
    void evaluationKeepsFullAttention() {
        var s = setup(7);
        var graph = new LlamaTrainGraph(s.cfg(), s.w(), s.ad(), B, T, false);
        double full = graph.loss(s.in(), s.tgt()).loss();
        graph.useSparseAttention(ShiftedSparseAttention.of(G));
        assertEquals(full, graph.loss(s.in(), s.tgt()).loss(), 1e-6, "LongLoRA infers with full attention");
        double trained = graph.forwardBackward(s.in(), s.tgt(), 0, 1f).loss();
        assertTrue(Math.abs(trained - full) > 1e-4, "the training forward is the sparse one");
    }

    @Test
    void rejectsPatternsThatDoNotFit() {
        var s = setup(3);
        var graph = new LlamaTrainGraph(s.cfg(), s.w(), s.ad(), B, T, false);
        var e = assertThrows(IllegalArgumentException.class, () -> graph.useSparseAttention(ShiftedSparseAttention.of(6)));
        assertTrue(e.getMessage().contains("must divide the sequence length 8"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ShiftedSparseAttention.of(3));
        assertTrue(e.getMessage().contains("even"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ShiftedSparseAttention.of(4).check(8, 3));
        assertTrue(e.getMessage().contains("head count must be even"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TrainConfig.builder().seqLen(8).s2AttnGroup(6).build());
        assertTrue(e.getMessage().contains("group size 6"), e.getMessage());
    }
}
