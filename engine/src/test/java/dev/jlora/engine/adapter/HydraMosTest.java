package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.ref.F32Matrix;
import dev.jlora.engine.ref.TinyLlama;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.simd.testing.Approx;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Hydra and MoS: float64 finite-difference gradients ({@link AdapterCheck} against {@link HydraMosRefs}), merge equals
 * the unmerged forward, state round trip, and each method's defining property.
 */
class HydraMosTest {
    static final int IC = 7, OC = 5, R = 3, T = 4;

    static LoraConfig cfg(int rank) {
        return new LoraConfig(rank, 6, 0, false, Set.of(Target.Q));
    }

    @Test
    void hydraBothBranchesMatchFiniteDifferencesAndMergeExactly() {
        F32Matrix w = VariantsTest.base(200);
        var hydra = HydraAdapter.create(w, cfg(R), new SplittableRandom(201));
        assertEquals(List.of("hydra_par_A", "hydra_par_B", "hydra_seq_A", "hydra_seq_B"),
                hydra.parameters().stream().map(Parameter::name).toList());
        var rnd = new SplittableRandom(202);
        VariantsTest.randomize(hydra.parallelB(), rnd, -1, 1);
        VariantsTest.randomize(hydra.sequentialB(), rnd, -1, 1);
        AdapterCheck.gradients(hydra, HydraMosRefs.hydra(AdapterCheck.doubles(w.w()), IC, OC, R, 6.0 / R), T, 203);
        // Merge: (I + s·B_s·A_s)·W + s·B_p·A_p, checked against the unmerged forward.
        AdapterCheck.mergeMatchesForward(hydra, w, T, 204);
        AdapterCheck.stateRoundTrip(hydra, new HydraAdapter(w, R, 6, 0, false), T, 205);
    }

    @Test
    void hydraSequentialBranchStartsAtZeroAndSeesOnlyTheFrozenOutput() {
        // W with a zero column 2: inputs that differ only there have the same W·x.
        float[] wv = AdapterCheck.floats(new SplittableRandom(210), OC * IC, 1);
        for (int o = 0; o < OC; o++) {
            wv[o * IC + 2] = 0;
        }
        var w = new F32Matrix(OC, IC, wv);
        var hydra = HydraAdapter.create(w, cfg(R), new SplittableRandom(211));
        float[] x = AdapterCheck.floats(new SplittableRandom(212), T * IC, 1), y = new float[T * OC];
        hydra.forward(x, T, y);
        for (float v : y) {
            assertEquals(0f, v, "B_p = B_s = 0 at init: the output is the frozen layer's");
        }
        VariantsTest.randomize(hydra.sequentialB(), new SplittableRandom(213), -1, 1);
        float[] x2 = x.clone();
        for (int t = 0; t < T; t++) {
            x2[t * IC + 2] += 5;
        }
        float[] y1 = new float[T * OC], y2 = new float[T * OC];
        hydra.forward(x, T, y1);
        hydra.forward(x2, T, y2);
        assertArrayEquals(y1, y2, 1e-6f, "with B_p = 0 only the sequential branch is on; it is a function of W·x");
        boolean nonzero = false;
        for (float v : y1) {
            nonzero |= v != 0;
        }
        assertTrue(nonzero, "the sequential branch is active");
    }

    /** Pools for 3 layers of 5×7, rank 3, l = 2 shards per vector, budget of LoRA rank 2, 1 private vector. */
    static MosAdapter.Pools pools(long routerSeed) {
        return new MosAdapter.Pools("q_proj", 3, IC, OC, R, 2, 2, 1, routerSeed);
    }

    @Test
    void mosGradientsReachTheSharedPoolAndThePrivateShards() {
        var pools = pools(7);
        pools.initialise(new SplittableRandom(220));
        var mos = MosAdapter.create(pools, 1, 6, 0, false, new SplittableRandom(221));
        var rnd = new SplittableRandom(222);
        VariantsTest.randomize(pools.publicB(), rnd, -1, 1);
        VariantsTest.randomize(mos.privateB(), rnd, -1, 1);
        var ref = HydraMosRefs.mos("mos.q_proj.public_A", "mos.q_proj.public_B", mos.routeA(), mos.routeB(), IC, OC, R, 2, 6.0 / R);
        AdapterCheck.gradients(mos, ref, T, 223);
        AdapterCheck.mergeMatchesForward(mos, VariantsTest.base(224), T, 225);
        // A fresh adapter on fresh pools with the same config rebuilds the same routes; values come from the state.
        AdapterCheck.stateRoundTrip(mos, new MosAdapter(pools(7), 1, 6, 0, false), T, 226);
    }

    @Test
    void mosRoutesSelectDistinctPublicShardsAfterTheLayersPrivateOnes() {
        var pools = pools(9);
        var seenA = new HashSet<List<Integer>>();
        for (int layer = 0; layer < 3; layer++) {
            var mos = new MosAdapter(pools, layer, 6, 0, false);
            for (int[] route : new int[][] {mos.routeA(), mos.routeB()}) {
                assertEquals(R * 2, route.length);
                assertEquals(-1, route[0], "private_rank 1, l 2: slots 0 and 1 are the private shards");
                assertEquals(-2, route[1]);
                var pub = new HashSet<Integer>();
                for (int s = 2; s < route.length; s++) {
                    assertTrue(route[s] >= 0 && route[s] < 6, "public pool of 3·(2 − 1)·2 = 6 shards: " + route[s]);
                    assertTrue(pub.add(route[s]), "subset selection: no shard twice in one layer");
                }
            }
            seenA.add(java.util.Arrays.stream(mos.routeA()).boxed().toList());
            assertNotEquals(java.util.Arrays.toString(mos.routeA()), java.util.Arrays.toString(mos.routeB()),
                    "pair dissociation: A and B are routed independently (seed 9)");
        }
        assertTrue(seenA.size() > 1, "layers select different subsets");
        var e = assertThrows(IllegalArgumentException.class, () -> new MosAdapter.Pools("q_proj", 1, IC, OC, 8, 2, 2, 1, 0));
        assertTrue(e.getMessage().contains("raise equivalent_rank"), e.getMessage());
    }

    @Test
    void mosLayersShareOnePoolWhoseSizeIsTheTrainableCount() {
        LlamaConfig c = TinyLlama.config(16, 24, 3, 4, 2, 32, false, false);
        LlamaWeights w = TinyLlama.weights(c, 230);
        Set<Target> targets = EnumSet.of(Target.Q, Target.DOWN);
        var values = Map.of("rank", "4", "alpha", "8", "shards_per_vector", "2", "equivalent_rank", "3", "private_rank", "1");
        var set = AdapterMethods.create("mos", "kaiming", values, w, targets, 231, null).adapters();
        var q0 = (MosAdapter) set.get(0, Target.Q);
        var q2 = (MosAdapter) set.get(2, Target.Q);
        assertSame(q0.pools().publicA().value(), q2.pools().publicA().value(), "layers 0 and 2 read one shard storage");
        assertSame(q0.pools().publicB().grad(), q2.pools().publicB().grad(), "and accumulate into one gradient");
        assertTrue(q0.pools() != ((MosAdapter) set.get(0, Target.DOWN)).pools(), "one pool per target");
        // Trainable count = the pools: per target and factor L·equivalent_rank·l shards, i.e. LoRA rank 3's budget
        // rounded up to whole shards: q_proj 16→16 (A and B shards of 8), down_proj 24→16 (shards of 12 and 8).
        long want = 3L * 3 * 2 * (8 + 8) + 3L * 3 * 2 * (12 + 8);
        assertEquals(want, set.parameterCount());
        long names = set.parameters().stream().filter(p -> p.name().equals("mos.q_proj.public_A")).count();
        assertEquals(1, names, "a shared pool appears once in the optimizer's list");

        // Gradients of two layers add up in the shared pool: backward of layer 0 then layer 2 equals their sum.
        float[] x = AdapterCheck.floats(new SplittableRandom(232), T * 16, 1), dy = AdapterCheck.floats(new SplittableRandom(233), T * 16, 1);
        VariantsTest.randomize(q0.pools().publicB(), new SplittableRandom(234), -1, 1);
        set.zeroGrad();
        q0.backward(x, T, dy, q0.forwardTrain(x, T, new float[T * 16], 0), null);
        float[] only0 = q0.pools().publicA().grad().clone();
        set.zeroGrad();
        q2.backward(x, T, dy, q2.forwardTrain(x, T, new float[T * 16], 0), null);
        float[] only2 = q0.pools().publicA().grad().clone();
        set.zeroGrad();
        q0.backward(x, T, dy, q0.forwardTrain(x, T, new float[T * 16], 0), null);
        q2.backward(x, T, dy, q2.forwardTrain(x, T, new float[T * 16], 0), null);
        float[] both = q0.pools().publicA().grad();
        for (int i = 0; i < both.length; i++) {
            assertEquals(only0[i] + only2[i], both[i], 1e-6f, "pool grad[" + i + "]");
        }

        // Set state: the pool once under its own name; a set rebuilt by the file loader reproduces the logits.
        var state = set.state();
        assertTrue(state.containsKey("mos.down_proj.public_B") && !state.containsKey("layers.0.q_proj.mos.q_proj.public_A"));
        var meta = new java.util.HashMap<>(q0.config());
        meta.put("targets", "q_proj,down_proj");
        var loaded = TrainableAdapterSet.create(w, targets, AdapterMethods.loader(w).apply(meta), 0);
        loaded.load(state);
        int[] in = {1, 5, 9, 2, 7};
        float[] a = new LlamaTrainGraph(c, w, set, 1, 5, false).logits(in);
        float[] b = new LlamaTrainGraph(c, w, loaded, 1, 5, false).logits(in);
        // Bit-identical tensors; the Vector API kernels may still round differently across JIT tiers (1e-5).
        Approx.assertClose(a, b, 1e-5, 1e-5, () -> "MoS set reloaded from its state");
    }
}
