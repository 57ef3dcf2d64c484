package dev.jlora.engine.adapter;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * MoS (Wang, Chen, Chen, Dong, Xue, Jiang, Kong and Wu 2024, "MoS: Unleashing Parameter Efficiency of Low-Rank
 * Adaptation with Mixture of Shards", ICLR 2025, arXiv:2410.00938, §3): LoRA whose A [r × IC] and B [OC × r] are
 * assembled from shards of a pool shared by all layers, y = x·Wᵀ + s·(xd·Aᵀ)·Bᵀ with s = alpha / r. The four
 * differentiation strategies of §3:
 * <ul>
 *   <li><b>vector sharding</b>: each row of A and each column of B is the concatenation of l shards
 *       ({@code shards_per_vector}) of length ⌈IC/l⌉ (A) or ⌈OC/l⌉ (B), the last one cut to the vector's length
 *       (as the authors' code cuts its de-reduced vectors to {@code dim_len});</li>
 *   <li><b>pair dissociation</b>: A and B draw from separate pools with independent indices, so row j of A and
 *       column j of B are not a fixed pair;</li>
 *   <li><b>subset selection</b>: each layer takes a subset of distinct shards from the public pool through a fixed
 *       random router (the index matrix of Fig. 2, drawn once from {@code router_seed}, never trained);</li>
 *   <li><b>shard privatization</b>: the first {@code private_rank} vectors of each layer's A and B are built from
 *       shards only that layer owns; the remaining r − private_rank vectors come from the public pool.</li>
 * </ul>
 * The trainable budget is that of LoRA with rank {@code equivalent_rank} on the same layers: per target and factor,
 * L·equivalent_rank·l shards, of which L·private_rank·l are private and L·(equivalent_rank − private_rank)·l form the
 * public pool. The pools are per target (q_proj's layers share one pool, k_proj's another): layers of one target have
 * equal shapes, so their shards have equal lengths.
 *
 * <p>Initialisation as LoRA (PEFT, and the authors' code): A's shards U(−1/√IC, 1/√IC), B's shards zero, so ΔW = 0
 * at step 0. The public pools are {@link #sharedParameters()}: every layer's adapter returns the same two
 * {@link Parameter}s, and their gradients from all layers accumulate in one grad array.
 */
public final class MosAdapter extends DroppedInputAdapter {
    private final int r, l, lenA, lenB;
    private final float alpha, scale;
    private final boolean rsLora;
    private final Pools pools;
    private final Parameter privA, privB;
    /** Slot (j·l + k) → source shard: ≥ 0 a public pool row, −1 − p private row p. */
    private final int[] routeA, routeB;

    /** xd (and mask), the assembled a [r × IC], b [OC × r] and h = xd·Aᵀ [T × r]. */
    private record Saved(InputDropout drop, float[] a, float[] b, float[] h) implements TrainableAdapter.Saved {}

    /** The public shard pools of one target, shared by its layers, and the shape that defines them. */
    public static final class Pools {
        private final String target;
        private final int layers, inFeatures, outFeatures, rank, shardsPerVector, equivalentRank, privateRank;
        private final long routerSeed;
        private final Parameter publicA, publicB;

        /**
         * Zero pools for {@code layers} layers of shape OC × IC on {@code target} (the HF name, for parameter names and
         * the router). Checks the budget: the public pool must hold the (rank − private_rank)·l distinct shards a layer
         * selects.
         */
        public Pools(String target, int layers, int inFeatures, int outFeatures, int rank, int shardsPerVector,
                     int equivalentRank, int privateRank, long routerSeed) {
            if (layers <= 0 || inFeatures <= 0 || outFeatures <= 0) {
                throw new IllegalArgumentException("MoS pools need positive layers and shapes, got L=" + layers
                        + " IC=" + inFeatures + " OC=" + outFeatures);
            }
            if (rank <= 0 || shardsPerVector <= 0 || shardsPerVector > Math.min(inFeatures, outFeatures)) {
                throw new IllegalArgumentException("MoS rank must be positive and shards_per_vector in [1, "
                        + Math.min(inFeatures, outFeatures) + "], got rank=" + rank + " shards_per_vector=" + shardsPerVector);
            }
            // Privatization and sharing both present: at least one private vector per layer, and a public pool
            // that every layer draws from (private_rank < rank, private_rank < equivalent_rank).
            if (privateRank < 1 || privateRank >= rank || privateRank >= equivalentRank) {
                throw new IllegalArgumentException("MoS needs 1 ≤ private_rank < rank and private_rank < equivalent_rank;"
                        + " got rank=" + rank + " private_rank=" + privateRank + " equivalent_rank=" + equivalentRank);
            }
            int publicShards = layers * (equivalentRank - privateRank) * shardsPerVector;
            int selected = (rank - privateRank) * shardsPerVector;
            if (selected > publicShards) {
                throw new IllegalArgumentException("MoS on " + target + ": each layer selects " + selected
                        + " distinct public shards ((rank − private_rank)·shards_per_vector) but the public pool has "
                        + publicShards + " (layers·(equivalent_rank − private_rank)·shards_per_vector = " + layers + "·("
                        + equivalentRank + " − " + privateRank + ")·" + shardsPerVector
                        + "): raise equivalent_rank or lower rank");
            }
            this.target = target;
            this.layers = layers;
            this.inFeatures = inFeatures;
            this.outFeatures = outFeatures;
            this.rank = rank;
            this.shardsPerVector = shardsPerVector;
            this.equivalentRank = equivalentRank;
            this.privateRank = privateRank;
            this.routerSeed = routerSeed;
            this.publicA = Parameter.zeros("mos." + target + ".public_A", publicShards, ceilDiv(inFeatures, shardsPerVector));
            this.publicB = Parameter.zeros("mos." + target + ".public_B", publicShards, ceilDiv(outFeatures, shardsPerVector));
        }

        /** Public A shards U(−1/√IC, 1/√IC) from {@code rnd} (LoRA's Kaiming-uniform bound); public B stays zero. */
        void initialise(SplittableRandom rnd) {
            kaimingUniform(publicA.value(), inFeatures, rnd);
        }

        /** Public A shards [publicShards × ⌈IC/l⌉]. */
        public Parameter publicA() {
            return publicA;
        }

        /** Public B shards [publicShards × ⌈OC/l⌉]. */
        public Parameter publicB() {
            return publicB;
        }
    }

    /** An adapter for {@code layer} on the shared {@code pools}, private shards zero (load or {@link #create}). */
    public MosAdapter(Pools pools, int layer, float alpha, float dropout, boolean rsLora) {
        if (layer < 0 || layer >= pools.layers) {
            throw new IllegalArgumentException("MoS layer " + layer + " outside the pools' " + pools.layers + " layers");
        }
        new LoraConfig(pools.rank, alpha, dropout, rsLora, java.util.Set.of(Target.Q)); // validates the hyperparameters
        this.pools = pools;
        super("MoS", pools.inFeatures, pools.outFeatures, dropout);
        this.r = pools.rank;
        this.l = pools.shardsPerVector;
        this.lenA = ceilDiv(IC, l);
        this.lenB = ceilDiv(OC, l);
        this.alpha = alpha;
        this.rsLora = rsLora;
        this.scale = rsLora ? (float) (alpha / Math.sqrt(r)) : alpha / r;
        int privateShards = pools.privateRank * l;
        this.privA = Parameter.zeros("mos_private_A", privateShards, lenA);
        this.privB = Parameter.zeros("mos_private_B", privateShards, lenB);
        int publicShards = pools.publicA.shape()[0];
        this.routeA = route(privateShards, publicShards, new SplittableRandom(routerSeed(pools, layer, 0)));
        this.routeB = route(privateShards, publicShards, new SplittableRandom(routerSeed(pools, layer, 1)));
    }

    /** A fresh adapter: private A shards drawn like LoRA's A from {@code rnd}, private B zero. */
    public static MosAdapter create(Pools pools, int layer, float alpha, float dropout, boolean rsLora, SplittableRandom rnd) {
        var m = new MosAdapter(pools, layer, alpha, dropout, rsLora);
        kaimingUniform(m.privA.value(), m.IC, rnd);
        return m;
    }

    /** The router's stream for (layer, factor): a pure function of the config, so a loaded file rebuilds it. */
    private static long routerSeed(Pools p, int layer, int factor) {
        long k = ((long) p.target.hashCode() << 20) ^ (layer * 2L + factor);
        return TrainableAdapterSet.mix(p.routerSeed, k);
    }

    /**
     * Slots 0 … privateShards−1 take private shards in order; the others take distinct public shards, the first
     * entries of a Fisher–Yates shuffle of the pool (subset selection without repetition within a layer).
     */
    private int[] route(int privateShards, int publicShards, SplittableRandom rnd) {
        int[] slots = new int[r * l];
        for (int s = 0; s < privateShards; s++) {
            slots[s] = -1 - s;
        }
        int[] perm = new int[publicShards];
        for (int i = 0; i < publicShards; i++) {
            perm[i] = i;
        }
        for (int s = privateShards; s < slots.length; s++) {
            int i = s - privateShards;
            int j = i + rnd.nextInt(publicShards - i);
            int keep = perm[i];
            perm[i] = perm[j];
            perm[j] = keep;
            slots[s] = perm[i];
        }
        return slots;
    }

    private static int ceilDiv(int n, int d) {
        return (n + d - 1) / d;
    }

    private static void kaimingUniform(float[] w, int fanIn, SplittableRandom rnd) {
        double bound = 1 / Math.sqrt(fanIn);
        RandomInit.fillUniform(w, bound, rnd);
    }

    public Pools pools() {
        return pools;
    }

    /** Private A shards [private_rank·l × ⌈IC/l⌉]. */
    public Parameter privateA() {
        return privA;
    }

    /** Private B shards [private_rank·l × ⌈OC/l⌉]. */
    public Parameter privateB() {
        return privB;
    }

    /** Where A's slot j·l + k (row j, part k) comes from: a public pool row (≥ 0) or private row p as −1 − p. */
    public int[] routeA() {
        return routeA.clone();
    }

    /** Where B's slot j·l + k (column j, part k) comes from, encoded as in {@link #routeA()}. */
    public int[] routeB() {
        return routeB.clone();
    }

    public float scale() {
        return scale;
    }

    @Override
    public String method() {
        return "mos";
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(privA, privB);
    }

    @Override
    public List<Parameter> sharedParameters() {
        return List.of(pools.publicA, pools.publicB);
    }

    @Override
    public Map<String, String> config() {
        var c = commonConfig(r, alpha);
        c.put("rs_lora", Boolean.toString(rsLora));
        c.put("shards_per_vector", Integer.toString(l));
        c.put("equivalent_rank", Integer.toString(pools.equivalentRank));
        c.put("private_rank", Integer.toString(pools.privateRank));
        c.put("router_seed", Long.toString(pools.routerSeed));
        return c;
    }

    /** A [r × IC]: row j is shards routeA[j·l] … routeA[j·l + l − 1] end to end, cut to IC. */
    private float[] assembleA() {
        float[] a = new float[r * IC];
        for (int j = 0; j < r; j++) {
            for (int k = 0; k < l; k++) {
                int from = k * lenA, n = Math.min(lenA, IC - from);
                if (n > 0) {
                    System.arraycopy(shardValues(routeA[j * l + k], pools.publicA, privA), shardOffset(routeA[j * l + k], lenA),
                            a, j * IC + from, n);
                }
            }
        }
        return a;
    }

    /** B [OC × r]: column j is shards routeB[j·l] … end to end, cut to OC. */
    private float[] assembleB() {
        float[] b = new float[OC * r];
        for (int j = 0; j < r; j++) {
            for (int k = 0; k < l; k++) {
                int slot = routeB[j * l + k];
                float[] src = shardValues(slot, pools.publicB, privB);
                int off = shardOffset(slot, lenB);
                for (int e = 0; e < lenB; e++) {
                    int o = k * lenB + e;
                    if (o < OC) {
                        b[o * r + j] = src[off + e];
                    }
                }
            }
        }
        return b;
    }

    private static float[] shardValues(int slot, Parameter pub, Parameter priv) {
        return slot >= 0 ? pub.value() : priv.value();
    }

    private static float[] shardGrad(int slot, Parameter pub, Parameter priv) {
        return slot >= 0 ? pub.grad() : priv.grad();
    }

    private static int shardOffset(int slot, int len) {
        return (slot >= 0 ? slot : -1 - slot) * len;
    }

    /** Assembles A and B from the shards, then LoRA: h = xd·Aᵀ; y += s·h·Bᵀ. */
    @Override
    Saved run(InputDropout drop, int T, float[] y) {
        float[] a = assembleA(), b = assembleB();
        float[] h = LowRankPath.forward(drop.xd(), a, b, scale, T, r, IC, OC, y);
        return new Saved(drop, a, b, h);
    }

    /**
     * LoRA's backward into dense dA [r × IC], dB [OC × r] (dB = s·dyᵀ·h; dh = s·dy·B; dA = dhᵀ·xd; dx += drop'(dh·A)),
     * then each slot's part of dA/dB is added (+=) to the shard it came from: a public shard used by several layers
     * collects all their gradients.
     */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("MoS backward needs the state its own forwardTrain returned, got " + saved);
        }
        float[] dA = new float[r * IC], dB = new float[OC * r];
        LowRankPath.backward(dy, s.h(), s.drop(), s.a(), s.b(), scale, dA, dB, T, r, IC, OC, dx);
        for (int j = 0; j < r; j++) {
            for (int k = 0; k < l; k++) {
                int slotA = routeA[j * l + k];
                float[] gA = shardGrad(slotA, pools.publicA, privA);
                int offA = shardOffset(slotA, lenA);
                for (int e = 0, from = k * lenA; e < lenA && from + e < IC; e++) {
                    gA[offA + e] += dA[j * IC + from + e];
                }
                int slotB = routeB[j * l + k];
                float[] gB = shardGrad(slotB, pools.publicB, privB);
                int offB = shardOffset(slotB, lenB);
                for (int e = 0, from = k * lenB; e < lenB && from + e < OC; e++) {
                    gB[offB + e] += dB[(from + e) * r + j];
                }
            }
        }
    }

    /** w [OC × IC] += s·B·A with A and B assembled from the current shards. */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        SmallMatmul.ab(w, scale, assembleB(), assembleA(), OC, IC, r, true);
    }
}
