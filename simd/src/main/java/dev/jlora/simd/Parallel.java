package dev.jlora.simd;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.RecursiveAction;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * The one thread pool of the JVM for data-parallel loops (kernels, quant, engine). Daemon threads, sized to
 * {@link Runtime#availableProcessors()} unless {@code -Djlora.threads=N} says otherwise.
 *
 * <p>A loop is run by a team: the caller and N − 1 helper threads take chunks from a shared counter. Between
 * loops a helper spins for {@value #SPIN_NANOS} ns before it parks, so the back-to-back small loops of a decode
 * step (one matvec after another, a few microseconds apart) do not pay a thread wake-up each; handing each loop to
 * a fork/join pool did, and two threads decoded slower than one. A body that calls {@code parallelFor} again runs
 * the inner loop inline (every team thread is already busy). A second caller that finds the team busy uses a
 * fork/join pool instead, where nested calls fork inside the same workers. With one thread everything runs inline
 * on the caller.
 */
public final class Parallel {

    /** A body over the half-open index range {@code [from, to)}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int from, int to);
    }

    private static final int THREADS = threadsFromProperty();
    /** How long an idle helper keeps polling for the next loop before it parks. */
    private static final long SPIN_NANOS = 50_000;
    private static final Team TEAM = THREADS > 1 ? new Team(THREADS - 1) : null;
    private static final ForkJoinPool POOL = THREADS > 1 ? newPool(THREADS) : null;

    private Parallel() {}

    /** Number of threads that run a parallel loop (the caller included). */
    public static int threads() {
        return THREADS;
    }

    /** Runs {@code body.accept(i)} for every {@code 0 ≤ i < n}, in parallel, in no particular order. */
    public static void parallelFor(int n, IntConsumer body) {
        parallelForRange(n, 1, (from, to) -> {
            for (int i = from; i < to; i++) {
                body.accept(i);
            }
        });
    }

    /**
     * Splits {@code [0, n)} into at most a few ranges per thread, each of at least {@code minChunk} indices, and
     * runs {@code body} on them in parallel. Returns when all are done; the first exception thrown by a body is
     * rethrown here.
     */
    public static void parallelForRange(int n, int minChunk, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int chunk = Math.max(Math.max(1, minChunk), ceilDiv(n, 4 * THREADS));
        if (POOL == null || n <= chunk) {
            body.run(0, n);
            return;
        }
        if (Team.running()) {
            body.run(0, n);
        } else if (inPool()) {
            new Split(body, 0, n, chunk).invoke();
        } else if (!TEAM.tryRun(body, n, chunk)) {
            POOL.invoke(new Split(body, 0, n, chunk));
        }
    }

    /** {@link #parallelForRange(int, int, RangeBody)} with a minimum chunk of one index. */
    public static void parallelForRange(int n, RangeBody body) {
        parallelForRange(n, 1, body);
    }

    private static boolean inPool() {
        return Thread.currentThread() instanceof ForkJoinWorkerThread w && w.getPool() == POOL;
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    /** One loop handed to the team: chunks are claimed from {@code next}; the caller waits for {@code unfinished}. */
    private static final class Job {
        final RangeBody body;
        final int n, chunk, chunks;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger unfinished;
        volatile Throwable error;

        Job(RangeBody body, int n, int chunk) {
            this.body = body;
            this.n = n;
            this.chunk = chunk;
            this.chunks = ceilDiv(n, chunk);
            this.unfinished = new AtomicInteger(chunks);
        }

        /** Runs chunks until none is left; a failure stops the handing out of further chunks. */
        void work() {
            for (int c; (c = next.getAndIncrement()) < chunks; unfinished.decrementAndGet()) {
                try {
                    if (error == null) {
                        body.run(c * chunk, Math.min(n, (c + 1) * chunk));
                    }
                } catch (Throwable t) {
                    error = t;
                    // Take every unclaimed chunk off the books at once, so the caller stops waiting for them.
                    int claimed = next.getAndSet(chunks);
                    if (claimed < chunks) {
                        unfinished.addAndGet(claimed - chunks);
                    }
                }
            }
        }
    }

    /** The caller plus {@code helpers} daemon threads that spin, then park, between jobs. */
    private static final class Team {
        private static final ThreadLocal<Boolean> IN_JOB = ThreadLocal.withInitial(() -> false);
        private final AtomicBoolean busy = new AtomicBoolean();
        private final Helper[] helpers;
        private volatile Job current;

        Team(int count) {
            helpers = new Helper[count];
            for (int i = 0; i < count; i++) {
                helpers[i] = new Helper(i + 1);
                helpers[i].start();
            }
        }

        /** Whether the current thread is running a chunk of a team job (its own loops then run inline). */
        static boolean running() {
            return IN_JOB.get();
        }

        /** Runs the loop with the team; false (nothing run) when another caller holds it. */
        boolean tryRun(RangeBody body, int n, int chunk) {
            if (!busy.compareAndSet(false, true)) {
                return false;
            }
            var job = new Job(body, n, chunk);
            try {
                current = job;
                for (Helper h : helpers) {
                    if (h.parked) {
                        LockSupport.unpark(h);
                    }
                }
                IN_JOB.set(true);
                try {
                    job.work();
                } finally {
                    IN_JOB.set(false);
                }
                // The helpers finish their last chunks; if one was descheduled mid-chunk, yield the core to it.
                for (long start = System.nanoTime(); job.unfinished.get() > 0; ) {
                    if (System.nanoTime() - start < SPIN_NANOS) {
                        Thread.onSpinWait();
                    } else {
                        Thread.yield();
                    }
                }
            } finally {
                current = null;
                busy.set(false);
            }
            Throwable t = job.error;
            if (t instanceof RuntimeException r) {
                throw r;
            } else if (t instanceof Error e) {
                throw e;
            } else if (t != null) {
                throw new IllegalStateException(t);
            }
            return true;
        }

        private final class Helper extends Thread {
            volatile boolean parked;

            Helper(int index) {
                super("jlora-parallel-team-" + index);
                setDaemon(true);
            }

            @Override public void run() {
                IN_JOB.set(true);
                Job done = null;
                long idleSince = System.nanoTime();
                while (true) {
                    Job job = current;
                    if (job != null && job != done) {
                        job.work();
                        done = job;
                        idleSince = System.nanoTime();
                    } else if (System.nanoTime() - idleSince < SPIN_NANOS) {
                        Thread.onSpinWait();
                    } else {
                        parked = true;
                        // Re-read after announcing the park: a caller that published a job before seeing the flag
                        // is caught here, one that sees the flag unparks this thread.
                        if (current == null || current == done) {
                            LockSupport.park(this);
                        }
                        parked = false;
                        idleSince = System.nanoTime();
                    }
                }
            }
        }
    }

    /** Halves the range until it is at most one chunk long. */
    private static final class Split extends RecursiveAction {
        private final RangeBody body;
        private final int from, to, chunk;

        Split(RangeBody body, int from, int to, int chunk) {
            this.body = body;
            this.from = from;
            this.to = to;
            this.chunk = chunk;
        }

        @Override
        protected void compute() {
            if (to - from <= chunk) {
                body.run(from, to);
                return;
            }
            // Split on a chunk boundary so the pieces are whole chunks.
            int chunks = ceilDiv(to - from, chunk);
            int mid = from + (chunks / 2) * chunk;
            invokeAll(new Split(body, from, mid, chunk), new Split(body, mid, to, chunk));
        }
    }

    private static int threadsFromProperty() {
        String p = System.getProperty("jlora.threads");
        if (p == null || p.isBlank()) {
            return Runtime.getRuntime().availableProcessors();
        }
        try {
            int n = Integer.parseInt(p.trim());
            if (n >= 1) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("-Djlora.threads=" + p + ": expected a positive integer");
    }

    private static ForkJoinPool newPool(int threads) {
        var counter = new AtomicInteger();
        return new ForkJoinPool(threads, pool -> {
            var t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
            t.setName("jlora-parallel-" + counter.incrementAndGet());
            t.setDaemon(true);
            return t;
        }, null, false);
    }
}
