package dev.jlora.engine.serve;

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
 * <p>Each request holds a KV cache of {@code min(prompt + max tokens, model context)} positions for its whole life;
 * the sum over running requests stays within {@code kvTokenBudget}, and requests that do not fit wait in a FIFO
 * queue of at most {@code maxQueue} entries (past it {@link #submit} throws {@link QueueFullException}). A request
 * that alone needs more than the budget is rejected at once.
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
        private final Sequence[] seq = new Sequence[1];
        private volatile boolean cancelled;

        /** Stops the request at the next step and frees its KV cache; the listener gets onFinish(CANCELLED). */
        public void cancel() {
            cancelled = true;
        }

        boolean cancelled() {
            return cancelled;
        }
    }

    private record Waiting(ServeRequest request, LlamaModel model, Ticket ticket, int positions) {}

    private final LlamaModel model;
    private final TrainedBaseCache trainedBases;
    private final int maxRunning;
    private final long kvTokenBudget;
    private final int maxQueue;
    private final int prefillTokensPerStep;
    private final DecodeStep step;
    private final Thread thread;
    private final ArrayDeque<Waiting> queue = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();
    private final List<Ticket> runningTickets = new ArrayList<>();
    private long reservedPositions;
    private boolean closed;
    private final AtomicLong requestsTotal = new AtomicLong();
    private final AtomicLong tokensGenerated = new AtomicLong();
    private final AtomicLong cancelledTotal = new AtomicLong();
    private volatile int runningCount;

    /**
     * @param maxRunning    requests decoded together at most
     * @param kvTokenBudget KV cache positions all running requests may hold together
     * @param maxQueue      requests that may wait for room; more are rejected
     */
    public Scheduler(LlamaModel model, int maxRunning, long kvTokenBudget, int maxQueue) {
        this(model, maxRunning, kvTokenBudget, maxQueue, DEFAULT_PREFILL_TOKENS_PER_STEP, DecodeStep.batched(model));
    }

    /** Prompt tokens prefilled per loop iteration by default: one prefill chunk of a few decode steps' cost. */
    public static final int DEFAULT_PREFILL_TOKENS_PER_STEP = 256;

    Scheduler(LlamaModel model, int maxRunning, long kvTokenBudget, int maxQueue, int prefillTokensPerStep,
              DecodeStep step) {
        if (maxRunning < 1 || kvTokenBudget < 1 || maxQueue < 0 || prefillTokensPerStep < 1) {
            throw new IllegalArgumentException("need maxRunning ≥ 1, kvTokenBudget ≥ 1, maxQueue ≥ 0, "
                    + "prefillTokensPerStep ≥ 1; got " + maxRunning + ", " + kvTokenBudget + ", " + maxQueue + ", "
                    + prefillTokensPerStep);
        }
        this.prefillTokensPerStep = prefillTokensPerStep;
        this.model = model;
        this.trainedBases = new TrainedBaseCache(model);
        this.maxRunning = maxRunning;
        this.kvTokenBudget = kvTokenBudget;
        this.maxQueue = maxQueue;
        this.step = step;
        this.thread = Thread.ofPlatform().name("jlora-scheduler").daemon(true).start(this::loop);
    }

    /**
     * Queues {@code request}; it starts when there is room.
     *
     * @throws QueueFullException       when {@code maxQueue} requests already wait
     * @throws IllegalArgumentException when the request alone needs more KV positions than the budget or the
     *                                  prompt does not fit the model's context
     */
    public Ticket submit(ServeRequest request) {
        int ctx = model.config().contextLength();
        int promptLength = request.prompt().length;
        if (promptLength > ctx) {
            throw new IllegalArgumentException("prompt has " + promptLength + " tokens but the model's context holds "
                    + ctx);
        }
        int positions = (int) Math.min(ctx, (long) promptLength + Math.max(1, request.config().maxTokens()));
        if (positions > kvTokenBudget) {
            throw new IllegalArgumentException("request needs " + positions + " KV positions (prompt " + promptLength
                    + " + max tokens " + request.config().maxTokens() + ") but the server's budget is " + kvTokenBudget);
        }
        var ticket = new Ticket();
        LlamaModel runsOn = trainedBases.modelFor(request.adapters());   // on the caller's thread: may copy tensors
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("the scheduler is closed");
            }
            if (queue.size() >= maxQueue && !(queue.isEmpty() && fits(positions))) {
                throw new QueueFullException(queue.size(), maxQueue);
            }
            queue.addLast(new Waiting(request, runsOn, ticket, positions));
            requestsTotal.incrementAndGet();
            notifyAll();
        }
        return ticket;
    }

    /** Requests waiting for room. */
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

    /** Tokens generated since start, over all requests (updated after every step). */
    public long tokensGenerated() {
        return tokensGenerated.get();
    }

    /**
     * Requests ended by {@link Ticket#cancel} since start (while waiting or running); a running one is counted at the
     * step that ends it, and its slot and KV positions are free before the next request is admitted.
     */
    public long cancelledTotal() {
        return cancelledTotal.get();
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

    private boolean fits(int positions) {
        return running.size() < maxRunning && reservedPositions + positions <= kvTokenBudget;
    }

    private void loop() {
        while (true) {
            List<Waiting> admitted = new ArrayList<>();
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
                        w.request().listener().onFinish(new ServeResult("", w.request().prompt().length, 0,
                                ServeResult.Finish.CANCELLED));
                    }
                    queue.clear();
                    for (Sequence s : running) {
                        s.finish(ServeResult.Finish.CANCELLED);
                    }
                    running.clear();
                    runningCount = 0;
                    return;
                }
                // Admit in FIFO order while the head fits: a large request is not overtaken forever by small ones.
                while (!queue.isEmpty() && fits(queue.peekFirst().positions())) {
                    Waiting w = queue.pollFirst();
                    reservedPositions += w.positions();
                    admitted.add(w);
                }
            }
            for (Waiting w : admitted) {
                if (w.ticket().cancelled()) {
                    release(w.positions());
                    cancelledTotal.incrementAndGet();
                    w.request().listener().onFinish(new ServeResult("", w.request().prompt().length, 0,
                            ServeResult.Finish.CANCELLED));
                    continue;
                }
                Sequence s;
                try {
                    s = new Sequence(w.request(), w.model(), w.positions());
                } catch (RuntimeException e) {
                    release(w.positions());
                    w.request().listener().onError(e);
                    continue;
                }
                s.begin();
                synchronized (this) {
                    running.add(s);
                    runningTickets.add(w.ticket());
                }
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
            List<Sequence> batch = new ArrayList<>();
            for (int i = 0; i < running.size(); i++) {
                Sequence s = running.get(i);
                if (runningTickets.get(i).cancelled()) {
                    if (!s.done()) {
                        cancelledTotal.incrementAndGet();
                    }
                    s.finish(ServeResult.Finish.CANCELLED);
                } else if (s.needsDecode() && !prefilling.contains(s)) {
                    batch.add(s);
                }
            }
            if (!batch.isEmpty()) {
                step.step(batch);
            }
            synchronized (this) {
                for (int i = running.size() - 1; i >= 0; i--) {
                    Sequence s = running.get(i);
                    tokensGenerated.addAndGet(s.takeNewTokens());
                    if (s.done()) {
                        reservedPositions -= s.reservedPositions;
                        running.remove(i);
                        runningTickets.remove(i);
                    }
                }
                runningCount = running.size();
            }
        }
    }

    private synchronized void release(int positions) {
        reservedPositions -= positions;
    }
}
