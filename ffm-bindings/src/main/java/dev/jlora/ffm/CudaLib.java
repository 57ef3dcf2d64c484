package dev.jlora.ffm;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

/**
 * The CUDA runtime ({@code libcudart}) through FFM: for now only what a probe needs, {@code cudaGetDeviceCount}
 * and {@code cudaGetErrorString}. Device memory, copies and cuBLAS are not bound yet (docs/BACKENDS.md).
 */
@SuppressWarnings("restricted")
public final class CudaLib {
    private static final System.Logger LOG = System.getLogger(CudaLib.class.getName());

    /** Candidates in order: {@code -Djlora.cudart.lib=PATH}, then the sonames of CUDA 13, 12 and 11. */
    static final String[] DEFAULT_NAMES = {"libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"};

    private final String path;
    private final MethodHandle getDeviceCount, getErrorString;

    private CudaLib(String path, SymbolLookup lookup) {
        this.path = path;
        Linker linker = Linker.nativeLinker();
        // cudaError_t cudaGetDeviceCount(int *count)
        getDeviceCount = linker.downcallHandle(find(lookup, "cudaGetDeviceCount"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
        // const char *cudaGetErrorString(cudaError_t error)
        getErrorString = linker.downcallHandle(find(lookup, "cudaGetErrorString"),
                FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    private static MemorySegment find(SymbolLookup lookup, String name) {
        return lookup.find(name).orElseThrow(() -> new IllegalStateException("symbol " + name + " not found"));
    }

    /** A loaded library, or why none could be loaded (every name tried, with its error). */
    public record Loaded(CudaLib lib, String failure) {}

    /** Tries {@code names} in order; never throws for a missing library or symbol. */
    static Loaded load(List<String> names) {
        List<String> failures = new ArrayList<>();
        for (String name : names) {
            try {
                return new Loaded(new CudaLib(name, SymbolLookup.libraryLookup(name, Arena.global())), null);
            } catch (IllegalArgumentException | IllegalStateException e) {
                failures.add(name + " (" + e.getMessage() + ")");
            }
        }
        String why = "CUDA runtime not found; tried " + String.join(", ", failures);
        LOG.log(System.Logger.Level.DEBUG, why);
        return new Loaded(null, why);
    }

    /** {@link #load(List)} over {@code -Djlora.cudart.lib} and {@link #DEFAULT_NAMES}. */
    public static Loaded load() {
        List<String> names = new ArrayList<>();
        String configured = System.getProperty("jlora.cudart.lib");
        if (configured != null && !configured.isBlank()) {
            names.add(configured);
        }
        names.addAll(List.of(DEFAULT_NAMES));
        return load(names);
    }

    /** The name or path the runtime was loaded from. */
    public String path() {
        return path;
    }

    /** {@code cudaGetDeviceCount}; a non-zero status becomes a {@link CudaException} naming it. */
    public int deviceCount() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocate(JAVA_INT);
            int status = (int) getDeviceCount.invokeExact(count);
            if (status != 0) {
                throw new CudaException("cudaGetDeviceCount()", status, errorString(status));
            }
            return count.get(JAVA_INT, 0);
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("cudaGetDeviceCount() downcall failed", t);
        }
    }

    /** {@code cudaGetErrorString}: the runtime's name for a status code. */
    public String errorString(int status) {
        try {
            MemorySegment p = (MemorySegment) getErrorString.invokeExact(status);
            return p.equals(MemorySegment.NULL) ? "unknown error" : p.reinterpret(1024).getString(0);
        } catch (Throwable t) {
            throw new IllegalStateException("cudaGetErrorString(" + status + ") failed", t);
        }
    }

    /** A CUDA call returned a non-zero {@code cudaError_t}. */
    public static final class CudaException extends IllegalStateException {
        private final int status;

        CudaException(String call, int status, String text) {
            super(call + " failed: " + status + " (" + text + ")");
            this.status = status;
        }

        public int status() {
            return status;
        }
    }
}
