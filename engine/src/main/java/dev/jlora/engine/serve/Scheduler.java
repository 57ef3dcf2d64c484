package dev.jlora.engine.serve;

import dev.jlora.engine.infer.KvPagePool;
import dev.jlora.engine.model.LlamaModel;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Runs generation requests against one base model, each with its own adapters, with continuous batching (Yu et al.
 * 2022, Orca: iteration-level scheduling): between two decode steps finished and cancelled requests leave and
 * waiting ones join, and one step advances every running request by one token.
 *
 * <p>KV memory is paged as in vLLM (Kwon et al. 2023, "Efficient Memory Management for Large Language Model Serving
 * with PagedAttention", §4.2 and §4.5): every request's KV cache takes pages of a shared {@link KvPagePool} as it
 * grows. A request is admitted (FIFO, at most {@code maxRunning} at once) when the pool has pages for its prompt
 * plus one generated token, not for its whole {@code max_tokens}. When a running request needs a new page and the
 * pool has none left (after evicting unused adapters, see {@link KvPagePool}), the most recently admitted request is
 * preempted: its pages are freed and it goes back to the head of the queue, to recompute its KV cache from its prompt
 * and the tokens it already generated when it is admitted again (vLLM's recomputation preemption, §4.5). Its
 * sampler, stop-string and text state are kept, so its output is the one it would have had without preemption, and
 * no request fails for lack of memory. Requests wait in a queue of at most {@code maxQueue} entries (past it
 * {@link #submit} throws {@link QueueFullException}); a request that could not fit even alone in the pool is
 * rejected at once.
 *
 * <p>One platform thread ("jlora-scheduler") runs prefill and decode; listeners are called on it. The decode step
 * runs the base linears once for all running requests and each adapter on its own rows, and prompts are prefilled
 * together the same way (see {@link DecodeStep}). Prefill is chunked and interleaved with decode (as in Sarathi's
 * chunked prefills, Agrawal et al. 2023): each loop iteration prefills at most {@code prefillTokensPerStep} prompt
 * tokens (oldest requests first) and then runs one decode step for every request past its prompt, so a long prompt
 * joining delays the running requests' next token by one chunk, not by the whole prompt.
 */
public final class Scheduler implements AutoCloseable {
    /** A submitted request: lets the client cancel it (e.g. when the connection is gone). */
    public static final class Ticket {
        private volatile boolean cancelled;

        /** Stops the request at the next step and frees its KV cache; the listener gets onFinish(CANCELLED). */
        public void cancel() {
            cancelled = true;
        }

        boolean cancelled() {
            return cancelled;
        }
    }

    /** A queued request; {@code sequence} is set once created (kept while it waits for pages, or when preempted). */
    private static final class Waiting {
        final ServeRequest request;
        final LlamaModel model;
        final Ticket ticket;
        final int positions;
        Sequence sequence;

        Waiting(ServeRequest request, LlamaModel model, Ticket ticket, int positions, Sequence sequence) {
            this.request = request;
            this.model = model;
            this.ticket = ticket;
            this.positions = positions;
            this.sequence = sequence;
        }
    }

    private final LlamaModel model;
    private final TrainedBaseCache trainedBases;
    private final int maxRunning;
    private final KvPagePool pool;
    private final int maxQueue;
    private final int prefillTokensPerStep;
    private final DecodeStep step;
    private final Thread thread;
    private final ArrayDeque<Waiting> queue = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();        // in order of admission
    private final List<Ticket> runningTickets = new ArrayList<>();
    private boolean closed;
    private final AtomicLong requestsTotal = new AtomicLong();
    private final AtomicLong tokensGenerated = new AtomicLong();
    private final AtomicLong preemptions = new AtomicLong();
    private final AtomicLong cancelledTotal = new AtomicLong();
    private volatile int runningCount;

    /**
     * A scheduler with a pool of its own for {@code kvTokenBudget} KV positions (rounded up to whole pages).
     *
     * @param maxRunning    requests decoded together at most
     * @param kvTokenBudget KV cache positions all running requests may hold together
     * @param maxQueue      requests that may wait for room; more are rejected
     */
    public Scheduler(LlamaModel model, int maxRunning, long kvTokenBudget, int maxQueue) {
        this(model, maxRunning, KvPagePool.forPositions(model.config(), requirePositive(kvTokenBudget)), maxQueue);
    }

    /** A scheduler whose KV caches take pages of {@code pool} (shared with an {@link AdapterRegistry}, if any). */
    public Scheduler(LlamaModel model, int maxRunning, KvPagePool pool, int maxQueue) {
        this(model, maxRunning, pool, maxQueue, DEFAULT_PREFILL_TOKENS_PER_STEP, DecodeStep.batched(model));
    }

    /** Prompt tokens prefilled per loop iteration by default: one prefill chunk of a few decode steps' cost. */
    public static final int DEFAULT_PREFILL_TOKENS_PER_STEP = 256;

    Scheduler(LlamaModel model, int maxRunning, KvPagePool pool, int maxQueue, int prefillTokensPerStep,
              DecodeStep step) {
        if (maxRunning < 1 || maxQueue < 0 || prefillTokensPerStep < 1) {
            throw new IllegalArgumentException("need maxRunning ≥ 1, maxQueue ≥ 0, prefillTokensPerStep ≥ 1; got "
                    + maxRunning + ", " + maxQueue + ", " + prefillTokensPerStep);
        }
        this.prefillTokensPerStep = prefillTokensPerStep;
        this.model = model;
        this.trainedBases = new TrainedBaseCache(model);
        this.maxRunning = maxRunning;
        this.pool = pool;
        this.maxQueue = maxQueue;
        this.step = step;
        this.thread = Thread.ofPlatform().name("jlora-scheduler").daemon(true).start(this::loop);
    }

    private static long requirePositive(long kvTokenBudget) {
        if (kvTokenBudget < 1) {
            throw new IllegalArgumentException("the KV budget must be ≥ 1 position, got " + kvTokenBudget);
        }
        return kvTokenBudget;
    }

    /**
     * Queues {@code request}; it starts when there is room.
     *
     * @throws QueueFullException       when {@code maxQueue} requests already wait
     * @throws IllegalArgumentException when the request alone needs more KV pages than the whole pool or the prompt
     *                                  does not fit the model's context
     */
    /**
     * The model's linears with the request's RoPE (its own linear scaling on top of the base's): a batched step shares
     * the linears and runs attention, RoPE included, per session.
     */
    private static LlamaModel withRope(LlamaModel m, float ropeScale) {
        return ropeScale == 1f ? m
                : new LlamaModel(m.config().withLinearRopeScaling(ropeScale), m.weights(), m.tokenizer());
    }

    public Ticket submit(ServeRequest request) {
        int ctx = model.config().contextLength();
        int promptLength = request.prompt().length;
        if (promptLength > ctx) {
            throw new IllegalArgumentException("prompt has " + promptLength + " tokens but the model's context holds "
                    + ctx);
        }
        int positions = (int) Math.min(ctx, (long) promptLength + Math.max(1, request.config().maxTokens()));
        long pages = pool.pagesForPositions(positions);
        if (pages > pool.totalPages()) {
            throw new IllegalArgumentException("request needs " + positions + " KV positions (prompt " + promptLength
                    + " + max tokens " + request.config().maxTokens() + "), " + pages + " pages of "
                    + pool.pageSize() + ", but the server's whole KV memory pool has " + pool.totalPages()
                    + " pages (" + pool.totalPages() * pool.pageSize() + " positions)");
        }
        var ticket = new Ticket();
        LlamaModel runsOn = withRope(trainedBases.modelFor(request.adapters()), request.ropeScale());   // on the caller's thread: may copy tensors
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("the scheduler is closed");
            }
            if (queue.size() >= maxQueue && !(queue.isEmpty() && running.size() < maxRunning)) {
                throw new QueueFullException(queue.size(), maxQueue);
            }
            queue.addLast(new Waiting(request, runsOn, ticket, positions, null));
            requestsTotal.incrementAndGet();
            notifyAll();
        }
        return ticket;
    }

    /** Requests waiting for room (preempted ones included). */
    public synchronized int queueLength() {
        return queue.size();
    }

    /** Requests being decoded. */
    public int running() {
        return runningCount;
    }

    /** Requests accepted since start. */
    public long requestsTotal() {
        return requestsTotal.get();
    }

    /** Tokens generated since start, over all requests (a token counts before its request's listener hears of it). */
    public long tokensGenerated() {
        return tokensGenerated.get();
    }

    /**
     * Requests ended by {@link Ticket#cancel} since start (while waiting or running); a running one is counted at the
     * step that ends it, and its slot and KV pages are free before the next request is admitted.
     */
    public long cancelledTotal() {
        return cancelledTotal.get();
    }

    /** Running requests sent back to the queue because the KV pool was full, since start. */
    public long preemptions() {
        return preemptions.get();
    }

    /** The pool the KV caches take their pages from. */
    public KvPagePool pool() {
        return pool;
    }

    /** Stops the scheduler thread; running and waiting requests end as CANCELLED. */
    @Override
    public void close() {
        synchronized (this) {
            closed = true;
            notifyAll();
        }
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void loop() {
        while (true) {
            synchronized (this) {
                while (!closed && queue.isEmpty() && running.isEmpty()) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        closed = true;
                    }
                }
                if (closed) {
                    for (Waiting w : queue) {
                        cancelWaiting(w);
                    }
                    queue.clear();
                    for (Sequence s : running) {
                        s.finish(ServeResult.Finish.CANCELLED);
                    }
                    removeFinished();
                    return;
                }
            }
            if (!admit() && running.isEmpty()) {
                // Nothing runs and the head does not fit: only an adapter load waiting for pages (it gets them by
                // evicting unused adapters, on its own thread) holds the pool back. Look again in a moment, not in a
                // busy loop.
                synchronized (this) {
                    try {
                        wait(1);
                    } catch (InterruptedException e) {
                        closed = true;
                    }
                }
                continue;
            }
            List<Sequence> prefilling = new ArrayList<>();
            List<int[]> chunks = new ArrayList<>();
            int prefillRoom = prefillTokensPerStep;
            for (int i = 0; i < running.size() && prefillRoom > 0; i++) {   // oldest first
                Sequence s = running.get(i);
                if (s.prefilling() && !runningTickets.get(i).cancelled()) {
                    int[] chunk = s.takePrefillChunk(prefillRoom);
                    prefillRoom -= chunk.length;
                    prefilling.add(s);
                    chunks.add(chunk);
                }
            }
            if (!prefilling.isEmpty()) {
                step.prefill(prefilling, chunks);
            }
            for (int i = 0; i < running.size(); i++) {
                Sequence s = running.get(i);
                if (runningTickets.get(i).cancelled() && !s.done()) {
                    cancelledTotal.incrementAndGet();
                    s.finish(ServeResult.Finish.CANCELLED);
                }
            }
            removeFinished();
            List<Sequence> batch = new ArrayList<>();
            for (int i = 0; i < running.size(); i++) {
                Sequence s = running.get(i);
                if (s.needsDecode() && !prefilling.contains(s) && makeRoomForNextToken(s)) {
                    batch.add(s);
                }
            }
            if (!batch.isEmpty()) {
                step.step(batch);
            }
            removeFinished();
        }
    }

    /**
     * Admits waiting requests in FIFO order while there is a running slot and the pool has pages for the head's
     * prompt (or, for a preempted request, prompt and generated tokens) plus one new token: a large request is not
     * overtaken forever by small ones. False when the head of the queue waits for pages.
     */
    private boolean admit() {
        while (true) {
            Waiting w;
            synchronized (this) {
                if (queue.isEmpty() || running.size() >= maxRunning) {
                    return true;
                }
                w = queue.peekFirst();
            }
            if (w.ticket.cancelled()) {
                synchronized (this) {
                    queue.pollFirst();
                }
                cancelledTotal.incrementAndGet();
                cancelWaiting(w);
                continue;
            }
            boolean fresh = w.sequence == null;
            if (fresh) {
                try {
                    w.sequence = new Sequence(w.request, w.model, w.positions, pool, tokensGenerated);
                } catch (RuntimeException e) {
                    synchronized (this) {
                        queue.pollFirst();
                    }
                    w.request.listener().onError(e);
                    continue;
                }
            }
            Sequence s = w.sequence;
            int positions = s.contextLength() + 1;
            if (!pool.available(pool.pagesForPositions(positions)) || !s.session.reserve(positions)) {
                s.session.releaseCache();
                return false;   // wait until running requests free pages
            }
            synchronized (this) {
                queue.pollFirst();
                running.add(s);
                runningTickets.add(w.ticket);
                runningCount = running.size();
            }
            pool.pin(s.request.adapters());
            if (fresh) {
                s.begin();
            }
        }
    }

    /**
     * Takes a KV page for {@code s}'s next token if it needs one, preempting the most recently admitted requests
     * while the pool has none; false when {@code s} itself was preempted or failed.
     */
    private boolean makeRoomForNextToken(Sequence s) {
        while (!s.session.reserve(s.session.position() + 1)) {
            Sequence victim = running.getLast();
            if (victim == s && running.size() == 1) {
                // Alone and still no page: the pool is held by adapters in use, retrying would loop forever.
                s.fail(new IllegalStateException("the KV memory pool (" + pool + ") has no page for position "
                        + s.session.position() + " of this request even with no other request running"));
                return false;
            }
            preempt(victim);
            if (victim == s) {
                return false;
            }
        }
        return true;
    }

    /** Frees {@code s}'s pages and puts it back at the head of the queue, to recompute its KV cache later. */
    private void preempt(Sequence s) {
        int i = running.indexOf(s);
        Ticket ticket;
        synchronized (this) {
            running.remove(i);
            ticket = runningTickets.remove(i);
            runningCount = running.size();
        }
        s.preempt();
        pool.unpin(s.request.adapters());
        synchronized (this) {
            queue.addFirst(new Waiting(s.request, null, ticket, 0, s));
        }
        preemptions.incrementAndGet();
    }

    /** Drops finished requests from the running list, giving back their pages. */
    private void removeFinished() {
        synchronized (this) {
            for (int i = running.size() - 1; i >= 0; i--) {
                Sequence s = running.get(i);
                if (s.done()) {
                    s.session.releaseCache();
                    pool.unpin(s.request.adapters());
                    running.remove(i);
                    runningTickets.remove(i);
                }
            }
            runningCount = running.size();
        }
    }

    private static void cancelWaiting(Waiting w) {
        if (w.sequence != null) {
            w.sequence.session.releaseCache();
            w.sequence.finish(ServeResult.Finish.CANCELLED);
        } else {
            w.request.listener().onFinish(new ServeResult("", w.request.prompt().length, 0,
                    ServeResult.Finish.CANCELLED));
        }
    }
}
