package dev.jlora.ffm;

import dev.jlora.engine.backend.Backend;
import dev.jlora.engine.backend.ResidentWeight;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A frozen weight W [OC × IC] resident in a ggml CPU buffer in its stored format (copied once from its blocks,
 * which are ggml's own layout), whose forward {@code y = x·Wᵀ} runs as {@code ggml_mul_mat(W, x)} on ggml's
 * kernels. Those quantize the activation to the format's dot type first (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for
 * Q4_1/Q5_1, Q8_K for the K-quants, F16 for F16), exactly as llama.cpp decodes, so results differ from the Java
 * kernels' fp32-activation ones by that rounding. The input gradient {@code dx += dy·W} contracts W's other
 * dimension, which ggml's quantized mul_mat cannot, so it runs on the Java kernels of the source matrix. Q4_0 and
 * Q4_K weights whose row count ggml can interleave live in its CPU_REPACK buffer, as in a llama.cpp model
 * ({@link GgmlBackend#repacks}).
 *
 * <p>One graph per sequence length T is built once and kept (at most {@link #GRAPHS}, least recently used
 * dropped), so a decode step costs two copies and one graph run. Every graph runs under the backend's lock: the
 * ggml CPU backend has one thread pool and work buffer. Native memory is freed when the weight is unreachable.
 */
final class GgmlWeight implements ResidentWeight {
    private static final int GRAPHS = 8;
    private static final Cleaner CLEANER = Cleaner.create();

    private final GgmlBackend ggml;
    private final QuantMatrix source;
    private final MemorySegment weight;
    private final boolean repacked;
    private final Natives natives;
    private final Map<Integer, Graph> graphs = new LinkedHashMap<>(16, 0.75f, true);

    /** x [IC, T] in, y [OC, T] out (ne0 first: row-major [T × IC] and [T × OC]). */
    private record Graph(MemorySegment ctx, MemorySegment buffer, MemorySegment input, MemorySegment output,
                         MemorySegment graph) {}

    /** The contexts and buffers to free, kept apart from the weight so the cleaner does not keep it alive. */
    private static final class Natives implements Runnable {
        private final GgmlBackend ggml;
        private final List<MemorySegment[]> owned = new ArrayList<>();   // {buffer, ctx}

        Natives(GgmlBackend ggml) {
            this.ggml = ggml;
        }

        synchronized void add(MemorySegment buffer, MemorySegment ctx) {
            owned.add(new MemorySegment[] {buffer, ctx});
        }

        synchronized void remove(MemorySegment buffer, MemorySegment ctx) {
            owned.removeIf(o -> o[0].equals(buffer) && o[1].equals(ctx));
            ggml.release(buffer, ctx);
        }

        @Override public synchronized void run() {
            for (MemorySegment[] o : owned) {
                ggml.release(o[0], o[1]);
            }
            owned.clear();
        }
    }

    GgmlWeight(GgmlBackend ggml, QuantMatrix source, int ggmlType, MemorySegment blocks, boolean repacked) {
        this.ggml = ggml;
        this.source = source;
        this.repacked = repacked;
        this.natives = new Natives(ggml);
        long bytes = source.type().rowBytes(source.cols()) * source.rows();
        if (blocks.byteSize() != bytes) {
            throw new IllegalArgumentException(String.format("%s weight [%d × %d]: %,d stored bytes, expected %,d",
                    source.type(), source.rows(), source.cols(), blocks.byteSize(), bytes));
        }
        String what = describe(source);
        MemorySegment ctx = MemorySegment.NULL, buffer = MemorySegment.NULL;
        try {
            ctx = ggml.newContext(1, false);
            weight = (MemorySegment) ggml.newTensor2d.invokeExact(ctx, ggmlType, (long) source.cols(), (long) source.rows());
            if (repacked) {
                // A CPU_REPACK buffer interleaves the rows as they are set (its set_tensor) and logs it, so the
                // blocks go in through a plain downcall, which takes native memory only.
                buffer = ggml.allocateRepacked(ctx, what);
                try (Arena copy = Arena.ofConfined()) {
                    MemorySegment nativeBlocks = blocks.isNative() ? blocks : copy.allocate(bytes, 64).copyFrom(blocks);
                    ggml.tensorSetMayLog.invokeExact(weight, nativeBlocks, 0L, bytes);
                }
            } else {
                buffer = ggml.allocate(ctx, what);
                ggml.tensorSet.invokeExact(weight, blocks, 0L, bytes);
            }
        } catch (RuntimeException e) {
            ggml.release(buffer, ctx);
            throw e;
        } catch (Throwable t) {
            ggml.release(buffer, ctx);
            throw new IllegalStateException("making " + what + " resident in ggml failed", t);
        }
        natives.add(buffer, ctx);
        CLEANER.register(this, natives);
    }

    private static String describe(QuantMatrix m) {
        return m.type() + " weight [" + m.rows() + " × " + m.cols() + "]";
    }

    @Override public Backend backend() {
        return ggml;
    }

    @Override public int rows() {
        return source.rows();
    }

    @Override public int cols() {
        return source.cols();
    }

    @Override public QuantType type() {
        return source.type();
    }

    @Override public long storageBytes() {
        return source.storageBytes();
    }

    @Override public void matmul(float[] x, int T, float[] y) {
        int IC = cols(), OC = rows();
        if (T <= 0 || x.length < (long) T * IC || y.length < (long) T * OC) {
            throw new IllegalArgumentException(String.format("%s matmul: T=%d needs x of %d and y of %d floats, got %d and %d",
                    describe(source), T, (long) T * IC, (long) T * OC, x.length, y.length));
        }
        synchronized (ggml) {
            Graph g = graph(T);
            String what = describe(source) + " · x [" + T + " × " + IC + "]";
            try {
                ggml.tensorSet.invokeExact(g.input(), MemorySegment.ofArray(x), 0L, 4L * T * IC);
                ggml.run(g.graph(), what);
                ggml.tensorGet.invokeExact(g.output(), MemorySegment.ofArray(y), 0L, 4L * T * OC);
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException("ggml " + what + " failed", t);
            }
        }
    }

    /** The graph for T rows, built on first use; the least recently used beyond {@link #GRAPHS} is freed. */
    private Graph graph(int T) {
        Graph g = graphs.get(T);
        if (g != null) {
            return g;
        }
        MemorySegment ctx = MemorySegment.NULL, buffer = MemorySegment.NULL;
        try {
            ctx = ggml.newContext(2, true);
            MemorySegment in = (MemorySegment) ggml.newTensor2d.invokeExact(ctx, GgmlBackend.GGML_TYPE_F32,
                    (long) cols(), (long) T);
            MemorySegment out = (MemorySegment) ggml.mulMat.invokeExact(ctx, weight, in);
            MemorySegment graph = (MemorySegment) ggml.newGraph.invokeExact(ctx);
            ggml.buildForward.invokeExact(graph, out);
            buffer = ggml.allocate(ctx, "mul_mat(" + describe(source) + ", x [" + T + "])");
            g = new Graph(ctx, buffer, in, out, graph);
        } catch (RuntimeException e) {
            ggml.release(buffer, ctx);
            throw e;
        } catch (Throwable t) {
            ggml.release(buffer, ctx);
            throw new IllegalStateException("building the ggml graph of " + describe(source) + " for T=" + T + " failed", t);
        }
        natives.add(buffer, ctx);
        graphs.put(T, g);
        if (graphs.size() > GRAPHS) {
            var eldest = graphs.entrySet().iterator().next();
            graphs.remove(eldest.getKey());
            natives.remove(eldest.getValue().buffer(), eldest.getValue().ctx());
        }
        return g;
    }

    @Override public void matmulBackwardInput(float[] dy, int T, float[] dx) {
        source.matmulBackwardInput(dy, T, dx);
    }

    @Override public void dequantizeRow(int row, float[] out, int off) {
        source.dequantizeRow(row, out, off);
    }

    /** Whether the weight lives in ggml's CPU_REPACK buffer (rows interleaved for its int8 GEMV). */
    boolean repacked() {
        return repacked;
    }

    @Override public String toString() {
        return describe(source) + " resident in ggml" + (repacked ? " (CPU_REPACK)" : "");
    }
}
