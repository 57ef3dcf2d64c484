package dev.jlora.engine.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.infer.GenerationConfig;
import dev.jlora.engine.infer.Generator;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.infer.KvPagePool;
import dev.jlora.engine.infer.SamplerConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.ref.ByteTokenizer;
import dev.jlora.engine.ref.TinyLlama;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SchedulerTest {
    static final ByteTokenizer TOK = new ByteTokenizer();
    static final LlamaModel MODEL = model();

    static LlamaModel model() {
        var cfg = TinyLlama.config(16, 24, 2, 4, 2, ByteTokenizer.VOCAB, true, false);
        return new LlamaModel(cfg, TinyLlama.weights(cfg, 1), TOK);
    }

    /** A LoRA with random non-zero A and B, so it changes the output. */
    static AdapterSet lora(long seed) {
        var set = TrainableAdapterSet.lora(MODEL.weights(), new LoraConfig(2, 4f, 0f, false,
                EnumSet.of(Target.Q, Target.V, Target.DOWN)), seed);
        var rnd = new SplittableRandom(seed);
        for (Parameter p : set.parameters()) {
            for (int i = 0; i < p.value().length; i++) {
                p.value()[i] = (float) rnd.nextDouble(-0.5, 0.5);
            }
        }
        return set;
    }

    static KvPagePool pool(long positions) {
        return KvPagePool.forPositions(MODEL.config(), positions);
    }

    static String direct(AdapterSet a, int[] prompt, GenerationConfig cfg) {
        var g = new Generator(new InferenceSession(MODEL, a, prompt.length + cfg.maxTokens()), TOK);
        return g.generate(prompt, cfg, Generator.Listener.NONE).text();
    }

    /** Collects streamed text and the result. */
    static class Collect implements ServeListener {
        final StringBuilder streamed = new StringBuilder();
        final CompletableFuture<ServeResult> done = new CompletableFuture<>();

        @Override public void onText(String text) { streamed.append(text); }
        @Override public void onFinish(ServeResult result) { done.complete(result); }
        @Override public void onError(Exception error) { done.completeExceptionally(error); }

        ServeResult get() throws Exception {
            return done.get(30, TimeUnit.SECONDS);
        }
    }

    static int[] prompt(String s) {
        return TOK.encode(s, true, false);
    }

    /** Batched (S-LoRA) and interleaved decode steps both give each request its single-run output. */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void concurrentRequestsOverSeveralAdaptersEqualTheirSingleRuns(boolean batched) throws Exception {
        AdapterSet a = lora(11), b = lora(12);
        var greedy = new GenerationConfig(12, SamplerConfig.greedy(), List.of(), false);
        var seeded = new GenerationConfig(9, SamplerConfig.defaults(5), List.of(), false);
        List<AdapterSet> sets = List.of(AdapterSet.NONE, a, b, a, b);
        List<int[]> prompts = List.of(prompt("hello"), prompt("hello"), prompt("hello"), prompt("abc"), prompt("xyz q"));
        List<GenerationConfig> cfgs = List.of(greedy, greedy, greedy, seeded, greedy);
        List<Collect> got = new ArrayList<>();
        // 3 slots for 5 requests: two wait and join while the others decode.
        DecodeStep step = batched ? DecodeStep.batched(MODEL) : DecodeStep.INTERLEAVED;
        try (var s = new Scheduler(MODEL, 3, pool(1000), 8, 3, step)) {   // 3 prompt tokens per iteration: chunked
            for (int i = 0; i < sets.size(); i++) {
                var c = new Collect();
                got.add(c);
                s.submit(new ServeRequest("m" + i, sets.get(i), prompts.get(i), cfgs.get(i), c));
            }
            for (int i = 0; i < sets.size(); i++) {
                ServeResult r = got.get(i).get();
                String want = direct(sets.get(i), prompts.get(i), cfgs.get(i));
                assertEquals(want, r.text(), "request " + i);
                assertEquals(want, got.get(i).streamed.toString(), "streamed text of request " + i);
                assertEquals(ServeResult.Finish.MAX_TOKENS, r.finish());
            }
            assertEquals(5, s.requestsTotal());
            assertEquals(12 * 4 + 9, s.tokensGenerated());
        }
        assertNotEquals(got.get(0).streamed.toString(), got.get(1).streamed.toString(), "the adapter changes the output");
        assertNotEquals(got.get(1).streamed.toString(), got.get(2).streamed.toString(), "the adapters differ");
    }

    /** With an fp16 KV pool, batched requests give what a single session with an fp16 cache gives. */
    @Test
    void fp16KvPoolRequestsEqualTheirSingleRunsWithAnFp16Cache() throws Exception {
        AdapterSet a = lora(11);
        var greedy = new GenerationConfig(12, SamplerConfig.greedy(), List.of(), false);
        List<int[]> prompts = List.of(prompt("hello"), prompt("abc"), prompt("xyz q"));
        var pool = KvPagePool.forPositions(MODEL.config(), 1000, dev.jlora.engine.infer.KvCacheType.F16);
        try (var s = new Scheduler(MODEL, 3, pool, 8, 3, DecodeStep.batched(MODEL))) {
            List<Collect> got = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                var c = new Collect();
                got.add(c);
                s.submit(new ServeRequest("f" + i, a, prompts.get(i), greedy, c));
            }
            for (int i = 0; i < prompts.size(); i++) {
                int[] p = prompts.get(i);
                var single = new InferenceSession(MODEL, a, p.length + 12, InferenceSession.DEFAULT_MAX_BATCH,
                        KvPagePool.forPositions(MODEL.config(), p.length + 12, dev.jlora.engine.infer.KvCacheType.F16));
                String want = new Generator(single, TOK).generate(p, greedy, Generator.Listener.NONE).text();
                assertEquals(want, got.get(i).get().text(), "request " + i);
            }
        }
    }

    /**
     * A request with its own RoPE scale (an adapter trained with LongLoRA's position interpolation) decodes, in the
     * same batch as a request without one, exactly as the scaled model does on its own.
     */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void requestWithItsOwnRopeScaleEqualsTheScaledModelsSingleRun(boolean batched) throws Exception {
        AdapterSet a = lora(13);
        var greedy = new GenerationConfig(12, SamplerConfig.greedy(), List.of(), false);
        int[] p = prompt("hello there");
        var scaled = new LlamaModel(MODEL.config().withLinearRopeScaling(4f), MODEL.weights(), TOK);
        String wantScaled = new Generator(new InferenceSession(scaled, a, p.length + 12), TOK)
                .generate(p, greedy, Generator.Listener.NONE).text();
        String wantPlain = direct(a, p, greedy);
        assertNotEquals(wantPlain, wantScaled, "the fixture must tell the two RoPEs apart");
        var plain = new Collect();
        var extended = new Collect();
        DecodeStep step = batched ? DecodeStep.batched(MODEL) : DecodeStep.INTERLEAVED;
        try (var s = new Scheduler(MODEL, 2, pool(1000), 8, 3, step)) {
            s.submit(new ServeRequest("plain", a, p, greedy, plain));
            s.submit(new ServeRequest("extended", a, p, greedy, extended, 4f));
            assertEquals(wantPlain, plain.get().text());
            assertEquals(wantScaled, extended.get().text());
        }
        assertThrows(IllegalArgumentException.class, () -> new ServeRequest("x", a, p, greedy, null, 0f));
    }

    /**
     * A long prompt joining while another request decodes is prefilled a chunk per iteration, with a decode step of
     * the running request between chunks (not one long stall), and both outputs still equal their single runs.
     */
    @Test
    void longPromptsArePrefilledInChunksInterleavedWithDecode() throws Exception {
        var calls = new java.util.concurrent.CopyOnWriteArrayList<String>();
        DecodeStep batched = DecodeStep.batched(MODEL);
        DecodeStep recording = new DecodeStep() {
            @Override public void step(List<Sequence> batch) {
                calls.add("decode " + batch.size());
                batched.step(batch);
            }
            @Override public void prefill(List<Sequence> prefilling, List<int[]> chunks) {
                calls.add("prefill " + chunks.stream().mapToInt(c -> c.length).sum());
                batched.prefill(prefilling, chunks);
            }
        };
        var greedy = new GenerationConfig(30, SamplerConfig.greedy(), List.of(), false);
        int[] longPrompt = prompt("a prompt of several chunks");   // 27 tokens: 4 chunks of ≤ 8; 57 ≤ context 64
        try (var s = new Scheduler(MODEL, 2, pool(1000), 8, 8, recording)) {
            var first = new Collect();
            var started = new CountDownLatch(1);
            var secondSubmitted = new CountDownLatch(1);
            // The first request holds the scheduler in its first token until the second is queued, so the second
            // always joins while the first still decodes (on a fast machine it could otherwise finish first).
            s.submit(new ServeRequest("first", AdapterSet.NONE, prompt("hi"), greedy, new ServeListener() {
                @Override public void onText(String text) {
                    first.onText(text);
                    started.countDown();
                    awaitQuietly(secondSubmitted);
                }
                @Override public void onFinish(ServeResult r) { first.onFinish(r); started.countDown(); }
                @Override public void onError(Exception e) { first.onError(e); }
            }));
            assertTrue(started.await(30, TimeUnit.SECONDS));
            var second = new Collect();
            s.submit(new ServeRequest("second", lora(3), longPrompt, greedy, second));
            secondSubmitted.countDown();
            assertEquals(direct(AdapterSet.NONE, prompt("hi"), greedy), first.get().text());
            assertEquals(direct(lora(3), longPrompt, greedy), second.get().text());
        }
        int chunks = (longPrompt.length + 7) / 8;
        int firstChunk = calls.indexOf("prefill 8");
        assertTrue(firstChunk >= 0, calls.toString());
        for (int c = 0; c < chunks - 1; c++) {   // every chunk but the last is followed by a decode of the first request
            assertEquals("prefill 8", calls.get(firstChunk + 2 * c), calls.toString());
            assertEquals("decode 1", calls.get(firstChunk + 2 * c + 1), calls.toString());
        }
    }

    static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void stopStringEndsTheRequestAsTheGeneratorDoes() throws Exception {
        var free = new GenerationConfig(12, SamplerConfig.greedy(), List.of(), false);
        String full = direct(AdapterSet.NONE, prompt("hello"), free);
        String stop = full.substring(3, 5);
        var cfg = new GenerationConfig(12, SamplerConfig.greedy(), List.of(stop), false);
        try (var s = new Scheduler(MODEL, 2, 1000, 8)) {
            var c = new Collect();
            s.submit(new ServeRequest("base", AdapterSet.NONE, prompt("hello"), cfg, c));
            ServeResult r = c.get();
            assertEquals(direct(AdapterSet.NONE, prompt("hello"), cfg), r.text());
            assertEquals(ServeResult.Finish.STOP_STRING, r.finish());
            assertTrue(r.text().length() <= 3, r.text());
        }
    }

    @Test
    void fullQueueRejectsAndCancellationFreesTheSlot() throws Exception {
        var entered = new CountDownLatch(1);
        var release = new CountDownLatch(1);
        var cfg = new GenerationConfig(20, SamplerConfig.greedy(), List.of(), false);
        try (var s = new Scheduler(MODEL, 1, 1000, 1)) {
            // The first request blocks the scheduler thread in its first callback, so it stays running.
            var first = new Collect() {
                @Override public void onText(String text) {
                    entered.countDown();
                    awaitQuietly(release);
                    super.onText(text);
                }
            };
            var t1 = s.submit(new ServeRequest("a", AdapterSet.NONE, prompt("hello"), cfg, first));
            assertTrue(entered.await(30, TimeUnit.SECONDS));
            var second = new Collect();
            s.submit(new ServeRequest("b", AdapterSet.NONE, prompt("abc"), cfg, second));
            assertEquals(1, s.queueLength());
            var e = assertThrows(QueueFullException.class,
                    () -> s.submit(new ServeRequest("c", AdapterSet.NONE, prompt("x"), cfg, new Collect())));
            assertTrue(e.getMessage().startsWith("queue full"), e.getMessage());
            t1.cancel();
            release.countDown();
            ServeResult r1 = first.get();
            assertEquals(ServeResult.Finish.CANCELLED, r1.finish());
            assertTrue(r1.completionTokens() < 20, "cancelled before the end: " + r1.completionTokens());
            assertEquals(direct(AdapterSet.NONE, prompt("abc"), cfg), second.get().text());
        }
    }

    @Test
    void requestLargerThanTheKvBudgetIsRejected() {
        try (var s = new Scheduler(MODEL, 2, 10, 8)) {   // 10 positions: one page of 16
            var e = assertThrows(IllegalArgumentException.class, () -> s.submit(new ServeRequest("a", AdapterSet.NONE,
                    prompt("hello"), new GenerationConfig(20, SamplerConfig.greedy()), null)));
            assertTrue(e.getMessage().contains("26 KV positions") && e.getMessage().contains("2 pages of 16")
                    && e.getMessage().contains("whole KV memory pool has 1 pages"), e.getMessage());
        }
    }

    /**
     * A pool far too small for the requests running together: requests are admitted on their prompt's pages, the
     * pool runs out while they decode, and the most recently admitted are preempted and recomputed later. Every
     * output (greedy and seeded, with adapters) still equals its single run, and preemption did happen.
     */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void preemptedRequestsRecomputeAndKeepTheirOutput(boolean batched) throws Exception {
        var greedy = new GenerationConfig(22, SamplerConfig.greedy(), List.of(), false);
        var seeded = new GenerationConfig(22, SamplerConfig.defaults(9), List.of(), false);
        List<AdapterSet> sets = List.of(lora(21), AdapterSet.NONE, lora(22), lora(21), AdapterSet.NONE);
        List<int[]> prompts = List.of(prompt("hello"), prompt("tiny pool"), prompt("abc"), prompt("x"), prompt("zz top"));
        List<GenerationConfig> cfgs = List.of(greedy, seeded, greedy, seeded, greedy);
        // Pages of 4 positions, 9 pages: each request needs ≤ 8 pages alone (≤ 32 positions), 4 running need ~28.
        var pool = new KvPagePool(MODEL.config(), 4, 9);
        DecodeStep step = batched ? DecodeStep.batched(MODEL) : DecodeStep.INTERLEAVED;
        var allSubmitted = new CountDownLatch(1);
        List<Collect> got = new ArrayList<>();
        try (var s = new Scheduler(MODEL, 4, pool, 8, 64, step)) {
            for (int i = 0; i < sets.size(); i++) {
                // The first request holds the scheduler in its first token until all are queued, so they run together.
                var c = i > 0 ? new Collect() : new Collect() {
                    @Override public void onText(String text) {
                        awaitQuietly(allSubmitted);
                        super.onText(text);
                    }
                };
                got.add(c);
                s.submit(new ServeRequest("m" + i, sets.get(i), prompts.get(i), cfgs.get(i), c));
            }
            allSubmitted.countDown();
            for (int i = 0; i < sets.size(); i++) {
                ServeResult r = got.get(i).get();
                String want = direct(sets.get(i), prompts.get(i), cfgs.get(i));
                assertEquals(want, r.text(), "request " + i);
                assertEquals(want, got.get(i).streamed.toString(), "streamed text of request " + i);
                assertEquals(22, r.completionTokens(), "request " + i);
            }
            assertTrue(s.preemptions() > 0, "the pool of 9 pages must have run out");
            assertEquals(22 * 5, s.tokensGenerated());
        }
        assertEquals(0, pool.kvPages(), "every page was given back");
    }
}
