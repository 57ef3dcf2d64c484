package dev.jlora.ffm;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.jlora.engine.backend.Backend;
import dev.jlora.engine.backend.BackendProvider;
import dev.jlora.engine.backend.Op;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
import dev.jlora.simd.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;

/**
 * {@code --backend ggml}: the three fp32 products as one small {@code ggml_mul_mat} graph each, on ggml's CPU
 * backend (the llama.cpp libraries from {@code scripts/fetch-llama-natives.sh}, through the ggml-backend API).
 *
 * <p>ggml's {@code mul_mat(a, b)} takes {@code a} as {@code ne = [K, N]} and {@code b} as {@code [K, M]} (ne0 is the
 * contiguous dimension) and returns {@code [N, M]}: {@code res[m][n] = Σ_k a[n][k]·b[m][k]}, which is row-major
 * {@code C = A·Bᵀ} with {@code a = B}, {@code b = A}; the other forms transpose operands in the graph
 * ({@code ggml_cont(ggml_transpose(t))}), and {@code C += Aᵀ·B} adds the result in Java. Each call builds a small
 * context, allocates its tensors in a CPU backend buffer, copies in, computes and copies out; that per-call work
 * makes it a cross-check against ggml more than a speedup.
 */
@SuppressWarnings("restricted")
public final class GgmlBackend implements Backend {
    static final int GGML_TYPE_F32 = 0, GGML_BACKEND_DEVICE_TYPE_CPU = 0, GGML_STATUS_SUCCESS = 0;

    /** struct ggml_init_params { size_t mem_size; void *mem_buffer; bool no_alloc; } (ggml.h). */
    static final StructLayout INIT_PARAMS = MemoryLayout.structLayout(JAVA_LONG.withName("mem_size"),
            ADDRESS.withName("mem_buffer"), JAVA_BOOLEAN.withName("no_alloc"), MemoryLayout.paddingLayout(7));

    private final Path dir;
    private final MemorySegment backend;
    private final int threads;
    /** The CPU backend's CPU_REPACK buffer type, or NULL when it offers none or the CPU lacks AVX2 ({@link #repacks}). */
    private final MemorySegment repackBuffer;
    final MethodHandle init, free, newTensor2d, mulMat, transpose, cont, newGraph, buildForward, allocCtxTensors,
            allocCtxTensorsFromBuft, bufferFree, tensorSet, tensorSetMayLog, tensorGet, graphCompute, tensorOverhead, graphOverhead;

    private GgmlBackend(Path dir, SymbolLookup base, SymbolLookup ggml) {
        this.dir = dir;
        Linker L = Linker.nativeLinker();
        init = L.downcallHandle(find(base, "ggml_init"), FunctionDescriptor.of(ADDRESS, INIT_PARAMS));
        free = L.downcallHandle(find(base, "ggml_free"), FunctionDescriptor.ofVoid(ADDRESS));
        newTensor2d = L.downcallHandle(find(base, "ggml_new_tensor_2d"),
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG));
        mulMat = L.downcallHandle(find(base, "ggml_mul_mat"), FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        transpose = L.downcallHandle(find(base, "ggml_transpose"), FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
        cont = L.downcallHandle(find(base, "ggml_cont"), FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
        newGraph = L.downcallHandle(find(base, "ggml_new_graph"), FunctionDescriptor.of(ADDRESS, ADDRESS));
        buildForward = L.downcallHandle(find(base, "ggml_build_forward_expand"),
                FunctionDescriptor.ofVoid(ADDRESS, ADDRESS));
        allocCtxTensors = L.downcallHandle(find(base, "ggml_backend_alloc_ctx_tensors"),
                FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
        allocCtxTensorsFromBuft = L.downcallHandle(find(base, "ggml_backend_alloc_ctx_tensors_from_buft"),
                FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
        bufferFree = L.downcallHandle(find(base, "ggml_backend_buffer_free"), FunctionDescriptor.ofVoid(ADDRESS));
        // Heap arrays go straight in: critical downcalls with heap access (the GC waits for the copy).
        tensorSet = L.downcallHandle(find(base, "ggml_backend_tensor_set"),
                FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG), Linker.Option.critical(true));
        // A CPU_REPACK buffer logs each tensor it repacks: a callback into Java, which a critical downcall forbids.
        tensorSetMayLog = L.downcallHandle(find(base, "ggml_backend_tensor_set"),
                FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG));
        tensorGet = L.downcallHandle(find(base, "ggml_backend_tensor_get"),
                FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG), Linker.Option.critical(true));
        graphCompute = L.downcallHandle(find(base, "ggml_backend_graph_compute"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        tensorOverhead = L.downcallHandle(find(base, "ggml_tensor_overhead"), FunctionDescriptor.of(JAVA_LONG));
        graphOverhead = L.downcallHandle(find(base, "ggml_graph_overhead"), FunctionDescriptor.of(JAVA_LONG));
        MethodHandle initByType = L.downcallHandle(find(ggml, "ggml_backend_init_by_type"),
                FunctionDescriptor.of(ADDRESS, JAVA_INT, ADDRESS));
        try {
            backend = (MemorySegment) initByType.invokeExact(GGML_BACKEND_DEVICE_TYPE_CPU, MemorySegment.NULL);
        } catch (Throwable t) {
            throw new IllegalStateException("ggml_backend_init_by_type(CPU) failed", t);
        }
        if (backend.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("ggml_backend_init_by_type(CPU, NULL) returned NULL (no CPU backend "
                    + "registered from " + dir + ")");
        }
        try {
            CpuBackendFunctions cpu = CpuBackendFunctions.of(L, base, backend);
            threads = setThreads(L, cpu, backend, Parallel.threads());
            repackBuffer = repackBuffer(L, base, cpu);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("looking up the ggml CPU backend's functions failed", t);
        }
    }

    /**
     * The CPU backend lives in a dynamically loaded library, so its own functions are found through its registry
     * ({@code ggml_backend_reg_get_proc_address}); a NULL address means this build does not offer the function.
     */
    private record CpuBackendFunctions(MethodHandle procAddress, MemorySegment reg, MemorySegment device) {
        static CpuBackendFunctions of(Linker L, SymbolLookup base, MemorySegment backend) throws Throwable {
            MethodHandle getDevice = L.downcallHandle(GgmlBackend.find(base, "ggml_backend_get_device"), FunctionDescriptor.of(ADDRESS, ADDRESS));
            MethodHandle devReg = L.downcallHandle(GgmlBackend.find(base, "ggml_backend_dev_backend_reg"), FunctionDescriptor.of(ADDRESS, ADDRESS));
            MethodHandle procAddress = L.downcallHandle(GgmlBackend.find(base, "ggml_backend_reg_get_proc_address"),
                    FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
            MemorySegment device = (MemorySegment) getDevice.invokeExact(backend);
            return new CpuBackendFunctions(procAddress, (MemorySegment) devReg.invokeExact(device), device);
        }

        MemorySegment find(String name) throws Throwable {
            try (Arena a = Arena.ofConfined()) {
                return (MemorySegment) procAddress.invokeExact(reg, a.allocateFrom(name));
            }
        }
    }

    /**
     * Sets the CPU backend's thread count. Without it ggml uses its default of 4 threads, which on fewer cores spin
     * against each other at every graph barrier. Returns the count set, or -1 when the backend does not offer the
     * function.
     */
    private static int setThreads(Linker L, CpuBackendFunctions cpu, MemorySegment backend, int n) throws Throwable {
        MemorySegment fn = cpu.find("ggml_backend_set_n_threads");
        if (fn.equals(MemorySegment.NULL)) {
            return -1;
        }
        MethodHandle set = L.downcallHandle(fn, FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT));
        set.invokeExact(backend, n);
        return n;
    }

    /**
     * The CPU backend's {@code CPU_REPACK} extra buffer type ({@code ggml_backend_dev_get_extra_bufts}, a NULL-ended
     * list), when the CPU has AVX2 ({@code ggml_backend_get_features}): the type llama.cpp loads Q4_0 and Q4_K weights
     * into by default. NULL when either is missing.
     */
    private static MemorySegment repackBuffer(Linker L, SymbolLookup base, CpuBackendFunctions cpu) throws Throwable {
        MemorySegment extraFn = cpu.find("ggml_backend_dev_get_extra_bufts");
        MemorySegment featuresFn = cpu.find("ggml_backend_get_features");
        if (extraFn.equals(MemorySegment.NULL) || featuresFn.equals(MemorySegment.NULL)) {
            return MemorySegment.NULL;
        }
        // struct ggml_backend_feature { const char * name; const char * value; }, ended by a NULL name.
        var features = (MemorySegment) L.downcallHandle(featuresFn, FunctionDescriptor.of(ADDRESS, ADDRESS))
                .invokeExact(cpu.reg());
        boolean avx2 = false;
        for (MemorySegment f = features.reinterpret(1L << 20); ; f = f.asSlice(2 * ADDRESS.byteSize())) {
            MemorySegment name = f.get(ADDRESS, 0);
            if (name.equals(MemorySegment.NULL)) {
                break;
            }
            avx2 |= name.reinterpret(1024).getString(0).equals("AVX2")
                    && f.get(ADDRESS, ADDRESS.byteSize()).reinterpret(1024).getString(0).equals("1");
        }
        if (!avx2) {
            return MemorySegment.NULL;
        }
        MethodHandle buftName = L.downcallHandle(find(base, "ggml_backend_buft_name"), FunctionDescriptor.of(ADDRESS, ADDRESS));
        var bufts = (MemorySegment) L.downcallHandle(extraFn, FunctionDescriptor.of(ADDRESS, ADDRESS)).invokeExact(cpu.device());
        for (MemorySegment b = bufts.reinterpret(1L << 20); ; b = b.asSlice(ADDRESS.byteSize())) {
            MemorySegment buft = b.get(ADDRESS, 0);
            if (buft.equals(MemorySegment.NULL)) {
                return MemorySegment.NULL;
            }
            if (((MemorySegment) buftName.invokeExact(buft)).reinterpret(1024).getString(0).equals("CPU_REPACK")) {
                return buft;
            }
        }
    }

    /**
     * Whether a weight of this format and row count goes into the CPU_REPACK buffer: ggml interleaves its rows
     * eight at a time for an int8 GEMV (Q4_0 as q4_0_8x8, Q4_K as q4_K_8x8, both on AVX2 and only for row counts
     * divisible by 8). Other formats and shapes have no repacked layout on x86, and ggml would dereference a missing
     * one, so they never go there.
     */
    public boolean repacks(QuantType type, int rows) {
        return !repackBuffer.equals(MemorySegment.NULL) && (type == QuantType.Q4_0 || type == QuantType.Q4_K) && rows % 8 == 0;
    }

    private static MemorySegment find(SymbolLookup lookup, String name) {
        return lookup.find(name).orElseThrow(() -> new IllegalStateException("symbol " + name + " not found"));
    }

    @Override public String name() {
        return "ggml";
    }

    @Override public String description() {
        return "ggml CPU backend (ggml_mul_mat" + (repackBuffer.equals(MemorySegment.NULL) ? "" : "; Q4_0/Q4_K weights in CPU_REPACK")
                + ") from " + dir + ", " + (threads > 0 ? threads + " threads" : "ggml's default threads");
    }

    @Override public boolean supports(Op op) {
        return true;
    }

    @Override public void matmulABt(float[] C, float[] A, float[] B, int M, int K, int N) {
        Backend.checkShapes(Op.MATMUL_ABT, C, A, B, M, K, N);
        if (M == 0 || N == 0) {
            return;
        }
        if (K == 0) {
            Arrays.fill(C, 0, M * N, 0f);
            return;
        }
        // a = B as [K, N], b = A as [K, M] → [N, M] = row-major C.
        compute("mul_mat(B, A)", M, K, N, new float[][] {B, A}, new long[][] {{K, N}, {K, M}},
                (ctx, t) -> (MemorySegment) mulMat.invokeExact(ctx, t[0], t[1]), C);
    }

    @Override public void matmulAB(float[] C, float[] A, float[] B, int M, int K, int N) {
        Backend.checkShapes(Op.MATMUL_AB, C, A, B, M, K, N);
        if (M == 0 || N == 0) {
            return;
        }
        if (K == 0) {
            Arrays.fill(C, 0, M * N, 0f);
            return;
        }
        // B row-major K×N is [N, K]; its transpose made contiguous is [K, N], then as in ABt.
        compute("mul_mat(cont(transpose(B)), A)", M, K, N, new float[][] {B, A}, new long[][] {{N, K}, {K, M}},
                (ctx, t) -> (MemorySegment) mulMat.invokeExact(ctx, contTranspose(ctx, t[0]), t[1]), C);
    }

    @Override public void matmulAtBAccumulate(float[] C, float[] A, float[] B, int M, int K, int N) {
        Backend.checkShapes(Op.MATMUL_ATB_ACCUMULATE, C, A, B, M, K, N);
        if (M == 0 || K == 0 || N == 0) {
            return;
        }
        // res[k][n] = Σ_m A[m][k]·B[m][n]: mul_mat(Bᵀ as [M, N], Aᵀ as [M, K]) → [N, K]; then C += res here.
        float[] res = new float[K * N];
        compute("mul_mat(cont(transpose(B)), cont(transpose(A)))", M, K, N, new float[][] {B, A},
                new long[][] {{N, M}, {K, M}},
                (ctx, t) -> (MemorySegment) mulMat.invokeExact(ctx, contTranspose(ctx, t[0]), contTranspose(ctx, t[1])),
                res);
        for (int i = 0; i < res.length; i++) {
            C[i] += res[i];
        }
    }

    /**
     * The formats ggml's CPU {@code mul_mat} takes as its weight operand: all of jlora's but NF4 (not a ggml format)
     * and Q8_K (only ever ggml's activation type: mul_mat on it aborts the process).
     */
    static final Set<QuantType> RESIDENT_FORMATS = EnumSet.of(QuantType.F32, QuantType.F16, QuantType.BF16,
            QuantType.Q4_0, QuantType.Q4_1, QuantType.Q5_0, QuantType.Q5_1, QuantType.Q8_0, QuantType.Q4_K,
            QuantType.Q5_K, QuantType.Q6_K);

    /**
     * A weight of a {@link #RESIDENT_FORMATS format} made resident in a ggml CPU buffer, copied once from its stored
     * blocks: its forward product then runs on ggml's own kernels ({@link GgmlWeight}). Q4_0 and Q4_K weights go
     * into the CPU_REPACK buffer where ggml {@link #repacks} them, as llama.cpp does when it loads a model.
     */
    @Override public Optional<QuantMatrix> residentWeight(QuantMatrix w) {
        return residentWeight(w, true);
    }

    /**
     * {@link #residentWeight(QuantMatrix)}, with {@code cpuRepack} false keeping every weight in ggml's stored
     * layout ({@code ggml_mul_mat}'s plain dot kernels; llama.cpp's {@code use_extra_bufts = false}).
     */
    public Optional<QuantMatrix> residentWeight(QuantMatrix w, boolean cpuRepack) {
        Optional<MemorySegment> blocks = w.storedBlocks();
        if (!RESIDENT_FORMATS.contains(w.type()) || blocks.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(new GgmlWeight(this, w, w.type().ggmlId(), blocks.get(), cpuRepack && repacks(w.type(), w.rows())));
    }

    /** A ggml context for {@code tensors} tensors (and a graph when asked) whose data will live in a backend buffer. */
    MemorySegment newContext(int tensors, boolean graph) throws Throwable {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = arena.allocate(INIT_PARAMS);
            long size = tensors * (long) tensorOverhead.invokeExact() + (graph ? (long) graphOverhead.invokeExact() : 0);
            params.set(JAVA_LONG, 0, size);
            params.set(ADDRESS, 8, MemorySegment.NULL);
            params.set(JAVA_BOOLEAN, 16, true);   // tensor data lives in the backend buffer
            MemorySegment ctx = (MemorySegment) init.invokeExact(params);
            if (ctx.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("ggml_init returned NULL");
            }
            return ctx;
        }
    }

    /** Allocates every tensor of {@code ctx} in one buffer of this backend. */
    MemorySegment allocate(MemorySegment ctx, String what) throws Throwable {
        MemorySegment buffer = (MemorySegment) allocCtxTensors.invokeExact(ctx, backend);
        if (buffer.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("ggml_backend_alloc_ctx_tensors(" + what + ") returned NULL");
        }
        return buffer;
    }

    /** Allocates every tensor of {@code ctx} in one CPU_REPACK buffer; only for tensors that {@link #repacks}. */
    MemorySegment allocateRepacked(MemorySegment ctx, String what) throws Throwable {
        MemorySegment buffer = (MemorySegment) allocCtxTensorsFromBuft.invokeExact(ctx, repackBuffer);
        if (buffer.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("ggml_backend_alloc_ctx_tensors_from_buft(" + what + ", CPU_REPACK) returned NULL");
        }
        return buffer;
    }

    /** Runs {@code graph} on this backend; callers hold the backend's lock (one graph at a time). */
    void run(MemorySegment graph, String what) throws Throwable {
        int status = (int) graphCompute.invokeExact(backend, graph);
        if (status != GGML_STATUS_SUCCESS) {
            throw new IllegalStateException("ggml_backend_graph_compute(" + what + ") failed: status " + status);
        }
    }

    /** Frees a buffer and its context (either may be NULL). */
    void release(MemorySegment buffer, MemorySegment ctx) {
        try {
            if (!buffer.equals(MemorySegment.NULL)) {
                bufferFree.invokeExact(buffer);
            }
            if (!ctx.equals(MemorySegment.NULL)) {
                free.invokeExact(ctx);
            }
        } catch (Throwable t) {
            throw new IllegalStateException("freeing a ggml context failed", t);
        }
    }

    private MemorySegment contTranspose(MemorySegment ctx, MemorySegment t) throws Throwable {
        return (MemorySegment) cont.invokeExact(ctx, (MemorySegment) transpose.invokeExact(ctx, t));
    }

    /** Builds the result tensor from the input tensors of a graph. */
    @FunctionalInterface
    private interface GraphBuilder {
        MemorySegment build(MemorySegment ctx, MemorySegment[] inputs) throws Throwable;
    }

    /**
     * One graph: F32 input tensors of shapes {@code ne[i] = {ne0, ne1}} filled from {@code data[i]}, the result
     * copied into {@code out} (all of it, {@code out.length} floats, which the callers size exactly).
     */
    private synchronized void compute(String what, int M, int K, int N, float[][] data, long[][] ne,
                                      GraphBuilder builder, float[] out) {
        String call = String.format("%s, M=%d, K=%d, N=%d", what, M, K, N);
        MemorySegment ctx = MemorySegment.NULL, buffer = MemorySegment.NULL;
        try {
            ctx = newContext(16, true);
            MemorySegment[] in = new MemorySegment[data.length];
            for (int i = 0; i < in.length; i++) {
                in[i] = (MemorySegment) newTensor2d.invokeExact(ctx, GGML_TYPE_F32, ne[i][0], ne[i][1]);
            }
            MemorySegment result = builder.build(ctx, in);
            MemorySegment graph = (MemorySegment) newGraph.invokeExact(ctx);
            buildForward.invokeExact(graph, result);
            buffer = allocate(ctx, call);
            for (int i = 0; i < in.length; i++) {
                tensorSet.invokeExact(in[i], MemorySegment.ofArray(data[i]), 0L, 4L * ne[i][0] * ne[i][1]);
            }
            run(graph, call);
            tensorGet.invokeExact(result, MemorySegment.ofArray(out), 0L, 4L * out.length);
        } catch (IllegalStateException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("ggml " + call + " failed", t);
        } finally {
            release(buffer, ctx);
        }
    }

    /** {@code --backend ggml}: available when the llama.cpp libraries load and register a CPU backend. */
    public static final class Provider implements BackendProvider {
        @Override public String name() {
            return "ggml";
        }

        @Override public int preference() {
            return 5;   // below OpenBLAS: per-call context and copies
        }

        private static Probe cached;

        /** Probed once per JVM: each probe would otherwise create (and leak) a ggml CPU backend. */
        @Override public Probe probe() {
            synchronized (Provider.class) {
                if (cached == null) {
                    cached = probeOnce();
                }
                return cached;
            }
        }

        private static Probe probeOnce() {
            Path dir = LlamaLib.defaultDirectory().toAbsolutePath().normalize();
            for (String lib : new String[] {LlamaLib.LIBRARIES[0], LlamaLib.LIBRARIES[1]}) {
                if (!Files.isRegularFile(dir.resolve(lib))) {
                    return Probe.unavailable("ggml", dir.resolve(lib) + " not found (run scripts/fetch-llama-natives.sh"
                            + " or set -Djlora.llama.natives=DIR)");
                }
            }
            // LlamaLib.load registers the CPU backends (ggml_backend_load_all_from_path) once per JVM.
            if (LlamaLib.load(dir).isEmpty()) {
                return Probe.unavailable("ggml", "llama.cpp libraries in " + dir + " did not load (see the log)");
            }
            try {
                SymbolLookup base = SymbolLookup.libraryLookup(dir.resolve(LlamaLib.LIBRARIES[0]), Arena.global());
                SymbolLookup ggml = SymbolLookup.libraryLookup(dir.resolve(LlamaLib.LIBRARIES[1]), Arena.global());
                return Probe.available(new GgmlBackend(dir, base, ggml));
            } catch (IllegalArgumentException | IllegalStateException e) {
                return Probe.unavailable("ggml", e.getMessage());
            }
        }
    }
}
