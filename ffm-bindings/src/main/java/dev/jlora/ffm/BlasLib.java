package dev.jlora.ffm;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * OpenBLAS ({@code cblas_sgemm} and the OpenBLAS thread/core controls) through FFM, for benchmarks and as a
 * matmul reference. Loads Debian's {@code libopenblas.so.0} (package libopenblas0-pthread, via libopenblas-dev).
 *
 * <p>OpenBLAS picks its kernels when the library loads: set the environment variable {@code OPENBLAS_CORETYPE}
 * ({@code SkylakeX} on AVX-512 CPUs, {@code Haswell} on AVX2-only ones) before starting the JVM; {@code
 * scripts/bench.sh} does that. {@link #coreName()} says what it chose.
 *
 * <p>{@code sgemm} runs as a critical downcall with heap access, so {@code float[]} operands are passed without a
 * copy; the GC waits for the call to return.
 */
@SuppressWarnings("restricted")
public final class BlasLib {
    private static final System.Logger LOG = System.getLogger(BlasLib.class.getName());

    /** Candidates in order: {@code -Djlora.blas.lib=PATH}, then Debian's names. */
    static final String[] DEFAULT_NAMES = {"libopenblas.so.0", "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
            "libopenblas.so"};

    /** CBLAS_ORDER / CBLAS_TRANSPOSE values from cblas.h. */
    private static final int CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112;

    private final String path;
    private final MethodHandle sgemm, setNumThreads, getNumThreads, getCoreName, getConfig;

    private BlasLib(String path, SymbolLookup lookup) {
        this.path = path;
        Linker linker = Linker.nativeLinker();
        // void cblas_sgemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        sgemm = linker.downcallHandle(find(lookup, "cblas_sgemm"), FunctionDescriptor.ofVoid(JAVA_INT, JAVA_INT,
                        JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT,
                        JAVA_FLOAT, ADDRESS, JAVA_INT),
                Linker.Option.critical(true));
        setNumThreads = linker.downcallHandle(find(lookup, "openblas_set_num_threads"),
                FunctionDescriptor.ofVoid(JAVA_INT));
        getNumThreads = linker.downcallHandle(find(lookup, "openblas_get_num_threads"),
                FunctionDescriptor.of(JAVA_INT));
        getCoreName = linker.downcallHandle(find(lookup, "openblas_get_corename"), FunctionDescriptor.of(ADDRESS));
        getConfig = linker.downcallHandle(find(lookup, "openblas_get_config"), FunctionDescriptor.of(ADDRESS));
    }

    private static MemorySegment find(SymbolLookup lookup, String name) {
        return lookup.find(name).orElseThrow(() -> new IllegalStateException("symbol " + name + " not found"));
    }

    /**
     * Loads OpenBLAS once per call site (the library itself stays loaded for the JVM's life). Empty, with a logged
     * reason naming every path tried, when it is missing or lacks a symbol.
     */
    public static Optional<BlasLib> load() {
        List<String> names = new ArrayList<>();
        String configured = System.getProperty("jlora.blas.lib");
        if (configured != null && !configured.isBlank()) {
            names.add(configured);
        }
        names.addAll(List.of(DEFAULT_NAMES));
        List<String> failures = new ArrayList<>();
        for (String name : names) {
            try {
                SymbolLookup lookup = SymbolLookup.libraryLookup(name, Arena.global());
                BlasLib lib = new BlasLib(name, lookup);
                LOG.log(System.Logger.Level.DEBUG, () -> "OpenBLAS loaded from " + name + ": core " + lib.coreName()
                        + ", OPENBLAS_CORETYPE=" + System.getenv("OPENBLAS_CORETYPE"));
                return Optional.of(lib);
            } catch (IllegalArgumentException | IllegalStateException e) {
                failures.add(name + " (" + e.getMessage() + ")");
            }
        }
        LOG.log(System.Logger.Level.WARNING, "OpenBLAS not available; tried " + String.join(", ", failures)
                + " (install libopenblas-dev, or set -Djlora.blas.lib=PATH)");
        return Optional.empty();
    }

    /** The name or path the library was loaded from. */
    public String path() {
        return path;
    }

    /** {@code C = alpha·op(A)·op(B) + beta·C}, row-major, on heap arrays (passed without copying). */
    public void sgemm(boolean transA, boolean transB, int M, int N, int K, float alpha, float[] A, int lda,
                      float[] B, int ldb, float beta, float[] C, int ldc) {
        checkShape(transA, transB, M, N, K, A.length, lda, B.length, ldb, C.length, ldc);
        sgemm(transA, transB, M, N, K, alpha, MemorySegment.ofArray(A), lda, MemorySegment.ofArray(B), ldb, beta,
                MemorySegment.ofArray(C), ldc);
    }

    /** {@code C = alpha·op(A)·op(B) + beta·C}, row-major, on segments (heap or native; sizes checked). */
    public void sgemm(boolean transA, boolean transB, int M, int N, int K, float alpha, MemorySegment A, int lda,
                      MemorySegment B, int ldb, float beta, MemorySegment C, int ldc) {
        checkShape(transA, transB, M, N, K, A.byteSize() / 4, lda, B.byteSize() / 4, ldb, C.byteSize() / 4, ldc);
        try {
            sgemm.invokeExact(CBLAS_ROW_MAJOR, transA ? CBLAS_TRANS : CBLAS_NO_TRANS,
                    transB ? CBLAS_TRANS : CBLAS_NO_TRANS, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        } catch (Throwable t) {
            throw new IllegalStateException(String.format("cblas_sgemm(M=%d, N=%d, K=%d, transA=%b, transB=%b) failed",
                    M, N, K, transA, transB), t);
        }
    }

    /** {@code C[M×N] = A[M×K]·B[N×K]ᵀ}: the same product as {@code Matmul.matmulABt}. */
    public void matmulABt(float[] C, float[] A, float[] B, int M, int K, int N) {
        sgemm(false, true, M, N, K, 1f, A, K, B, K, 0f, C, N);
    }

    /** {@code openblas_set_num_threads}: the number of threads OpenBLAS uses from now on. */
    public void setNumThreads(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("openblas_set_num_threads needs n >= 1, got " + n);
        }
        try {
            setNumThreads.invokeExact(n);
        } catch (Throwable t) {
            throw new IllegalStateException("openblas_set_num_threads(" + n + ") failed", t);
        }
    }

    /** {@code openblas_get_num_threads}. */
    public int numThreads() {
        try {
            return (int) getNumThreads.invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException("openblas_get_num_threads() failed", t);
        }
    }

    /** {@code openblas_get_corename}: the kernel set in use (e.g. {@code SkylakeX}, {@code Haswell}). */
    public String coreName() {
        return cString(getCoreName, "openblas_get_corename");
    }

    /** {@code openblas_get_config}: version and build options. */
    public String config() {
        return cString(getConfig, "openblas_get_config");
    }

    private static String cString(MethodHandle h, String what) {
        try {
            MemorySegment p = (MemorySegment) h.invokeExact();
            if (p.equals(MemorySegment.NULL)) {
                throw new IllegalStateException(what + "() returned NULL");
            }
            return p.reinterpret(4096).getString(0);
        } catch (IllegalStateException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(what + "() failed", t);
        }
    }

    /** The {@code OPENBLAS_CORETYPE} for this CPU: SkylakeX with AVX-512F, Haswell with AVX2, else empty. */
    public static Optional<String> recommendedCoreType(String cpuinfoFlags) {
        List<String> flags = List.of(cpuinfoFlags.trim().split("\\s+"));
        if (flags.contains("avx512f")) {
            return Optional.of("SkylakeX");
        }
        if (flags.contains("avx2") && flags.contains("fma")) {
            return Optional.of("Haswell");
        }
        return Optional.empty();
    }

    private static void checkShape(boolean transA, boolean transB, int M, int N, int K, long aLen, int lda,
                                   long bLen, int ldb, long cLen, int ldc) {
        if (M < 0 || N < 0 || K < 0) {
            throw new IllegalArgumentException("sgemm: negative shape M=" + M + ", N=" + N + ", K=" + K);
        }
        // Row-major: op(A) is M×K, stored as M rows of lda (no trans) or K rows of lda (trans).
        long aRows = transA ? K : M, aCols = transA ? M : K;
        long bRows = transB ? N : K, bCols = transB ? K : N;
        check("A", aRows, aCols, lda, aLen);
        check("B", bRows, bCols, ldb, bLen);
        check("C", M, N, ldc, cLen);
    }

    private static void check(String name, long rows, long cols, int ld, long len) {
        if (ld < Math.max(1, cols)) {
            throw new IllegalArgumentException("sgemm: ld" + name.toLowerCase() + " = " + ld + " is below the "
                    + cols + " columns of " + name);
        }
        long need = rows == 0 ? 0 : (rows - 1) * ld + cols;
        if (len < need) {
            throw new IllegalArgumentException("sgemm: " + name + " needs " + need + " floats (" + rows + "×" + cols
                    + ", ld " + ld + "), has " + len);
        }
    }
}
