package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.MemoryBudget;
import org.junit.jupiter.api.Test;

/** --max-memory on the demo model (stories260K, about 1 MiB of F32 weights, 512-token context). */
class MemoryBudgetCliTest {
    static LlamaModel demo() throws Exception {
        return CliModels.load("demo", null);
    }

    @Test
    void generateFailsBeforeLoadingWhenTheWeightsDoNotFit() {
        var r = CliRun.of("generate", "demo", "--prompt", "Once", "--max-tokens", "4", "--max-memory", "100K");
        assertEquals(1, r.code(), r.out());
        assertTrue(r.err().contains("--max-memory 100.00 KiB: the weights of stories260K.gguf need"), r.err());
        assertTrue(r.err().contains("--quant"), "suggests quantizing: " + r.err());
    }

    @Test
    void generateChecksTheKvCacheAgainstWhatTheWeightsLeave() throws Exception {
        LlamaModel m = demo();
        long weights = m.weights().storageBytes();
        long kv512 = InferenceSession.kvCacheBytes(m.config(), 512);
        String budget = Long.toString(weights + kv512 / 2);
        var tooBig = CliRun.of("generate", "demo", "--prompt", "Once", "--max-tokens", "4", "--ctx", "512",
                "--max-memory", budget);
        assertEquals(1, tooBig.code(), tooBig.out());
        assertTrue(tooBig.err().contains("the KV cache of 512 positions need"), tooBig.err());
        var fits = CliRun.of("generate", "demo", "--prompt", "Once", "--max-tokens", "4", "--ctx", "64",
                "--max-memory", budget);
        assertEquals(0, fits.code(), fits.err());
        var halved = CliRun.of("generate", "demo", "--prompt", "Once", "--max-tokens", "4", "--ctx", "512",
                "--max-memory", budget, "--kv-type", "f16");
        assertEquals(0, halved.code(), "an fp16 cache of 512 positions takes half the bytes: " + halved.err());
    }

    @Test
    void serveSplitsWhatTheWeightsLeaveBetweenKvCacheAndAdapters() throws Exception {
        LlamaModel m = demo();
        long weights = m.weights().storageBytes(), perToken = InferenceSession.kvCacheBytes(m.config(), 1);
        var budget = new MemoryBudget(weights + 1000 * perToken);
        var withAdapters = MemorySplit.of(budget, m, 8, null, true, 1L << 30);
        assertEquals(750, withAdapters.kvTokens(), "75 % of the rest for the KV cache");
        assertEquals(250 * perToken, withAdapters.adapterBytes(), "the rest for adapters");
        // one pool of 16-position pages for both: ⌈750 / 16⌉ KV pages + ⌊250 / 16⌋ adapter pages
        assertEquals(47 + 15, withAdapters.poolPages(), "KV pages and adapter pages in one pool");
        var baseOnly = MemorySplit.of(budget, m, 8, null, false, 1L << 30);
        assertEquals(1000, baseOnly.kvTokens());
        assertEquals(63, baseOnly.poolPages(), "without adapters: ⌈1000 / 16⌉ pages, all for KV");
        var fp16 = MemorySplit.of(budget, m, 8, null, false, 1L << 30, dev.jlora.engine.infer.KvCacheType.F16);
        assertEquals(2000, fp16.kvTokens(), "--kv-type f16: twice the positions in the same bytes");
        assertEquals(125, fp16.poolPages());
        var roomy = MemorySplit.of(MemoryBudget.parse("1G"), m, 2, null, true, 1L << 20);
        assertEquals(2L * m.config().contextLength(), roomy.kvTokens(), "no more than max-running × context");
        assertEquals(1L << 20, roomy.adapterBytes(), "--max-adapter-mib still caps the adapter cache");
        var e = org.junit.jupiter.api.Assertions.assertThrows(MemoryBudget.ExceededException.class,
                () -> MemorySplit.of(new MemoryBudget(weights + 10 * perToken), m, 8, null, false, 0));
        assertTrue(e.getMessage().contains("the KV cache (at least 64 positions)"), e.getMessage());
    }
}
