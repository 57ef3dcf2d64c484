package dev.jlora.cli;

import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.infer.KvCacheType;
import dev.jlora.engine.infer.KvPagePool;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.MemoryBudget;
import java.util.Locale;

/**
 * How {@code jlora serve} shares its memory budget once the weights are loaded: KV cache positions for the running
 * requests and bytes for the adapter cache, which together size one pool of pages that both draw from
 * ({@link KvPagePool}: KV caches may use pages no adapter holds and adapters those no KV cache holds).
 *
 * @param weightBytes  what the loaded weights take
 * @param kvTokens     KV cache positions of all running requests together
 * @param adapterBytes the adapter cache's byte limit
 * @param poolPages    pages of the pool shared by KV caches and adapters
 */
record MemorySplit(long weightBytes, long kvTokens, long adapterBytes, long poolPages) {
    /** The KV cache's share of what is left after the weights when adapters are served too (they get the rest). */
    static final double KV_SHARE_WITH_ADAPTERS = 0.75;
    /** Fewer KV positions than this cannot hold a useful request. */
    static final long MIN_KV_TOKENS = 64;

    /** {@link #of(MemoryBudget, LlamaModel, int, Long, boolean, long, KvCacheType)} with an fp32 KV cache. */
    static MemorySplit of(MemoryBudget budget, LlamaModel m, int maxRunning, Long kvTokensAsked, boolean adapters,
                          long adapterCap) {
        return of(budget, m, maxRunning, kvTokensAsked, adapters, adapterCap, KvCacheType.F32);
    }

    /**
     * @param kvTokensAsked {@code --kv-budget}, or null for maxRunning × the model's context (shrunk to fit)
     * @param adapterCap    {@code --max-adapter-mib} in bytes
     * @param kvType        {@code --kv-type}: how many bytes a KV position takes
     */
    static MemorySplit of(MemoryBudget budget, LlamaModel m, int maxRunning, Long kvTokensAsked, boolean adapters,
                          long adapterCap, KvCacheType kvType) {
        long weights = m.weights().storageBytes();
        long perToken = InferenceSession.kvCacheBytes(m.config(), 1, kvType);
        long wanted = kvTokensAsked != null ? kvTokensAsked : (long) maxRunning * m.config().contextLength();
        if (budget.unlimited()) {
            return split(m, weights, wanted, adapterCap, adapters, kvType);
        }
        long left = budget.remaining(weights);
        if (kvTokensAsked != null) {
            budget.require("--kv-budget " + kvTokensAsked + " KV positions", kvTokensAsked * perToken, weights,
                    "lower --kv-budget or raise --max-memory");
            return split(m, weights, kvTokensAsked, Math.min(adapterCap, left - kvTokensAsked * perToken), adapters,
                    kvType);
        }
        long kvRoom = adapters ? (long) (left * KV_SHARE_WITH_ADAPTERS) : left;
        long kvTokens = Math.min(wanted, kvRoom / perToken);
        budget.require("the KV cache (at least " + MIN_KV_TOKENS + " positions)", MIN_KV_TOKENS * perToken, weights,
                "quantize the weights (--quant) or raise --max-memory");
        return split(m, weights, kvTokens, adapters ? Math.min(adapterCap, left - kvTokens * perToken) : 0, adapters,
                kvType);
    }

    private static MemorySplit split(LlamaModel m, long weights, long kvTokens, long adapterBytes, boolean adapters,
                                     KvCacheType kvType) {
        return new MemorySplit(weights, kvTokens, adapterBytes,
                KvPagePool.poolPages(m.config(), kvTokens, adapters ? adapterBytes : 0, kvType));
    }

    String describe(MemoryBudget budget) {
        return String.format(Locale.ROOT, "memory budget %s: weights %s, KV cache %,d positions, adapter cache %s; "
                        + "one pool of %,d pages of %d positions shared by KV cache and adapters (0 used at start)",
                budget, MemoryBudget.format(weightBytes), kvTokens, MemoryBudget.format(adapterBytes), poolPages,
                KvPagePool.DEFAULT_PAGE_SIZE);
    }
}
