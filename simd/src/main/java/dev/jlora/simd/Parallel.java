package dev.jlora.simd;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.RecursiveAction;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * The one thread pool of the JVM for data-parallel loops (kernels, quant, engine). Daemon threads, sized to
 * {@link Runtime#availableProcessors()} unless {@code -Djlora.threads=N} says otherwise.
 *
 * <p>A caller outside the pool waits while the N workers run the loop. Nested calls (a body that calls
 * {@code parallelFor} again) are allowed: they fork inside the same workers instead of blocking them.
 * With one thread everything runs inline on the caller.
 */
public final class Parallel {

    /** A body over the half-open index range {@code [from, to)}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int from, int to);
    }

    private static final int THREADS = threadsFromProperty();
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
        var task = new Split(body, 0, n, chunk);
        if (inPool()) {
            task.invoke();
        } else {
            POOL.invoke(task);
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
