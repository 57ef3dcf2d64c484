package dev.jlora.ffm;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The quantization part of libggml-base (ggml v0.5.0 from {@code @node-llama-cpp/linux-x64@3.22.1}) through FFM:
 * type traits, {@code to_float}, {@code ggml_quantize_chunk}. It is jlora's oracle for the block formats of
 * {@code dev.jlora.quant}: the conformance tests hold jlora's dequantizers and reference quantizers bit-exact
 * against these calls.
 *
 * <p>Every argument is checked in Java before the call: ggml answers a bad type or size with {@code GGML_ABORT},
 * which would take the JVM down.
 */
@SuppressWarnings("restricted")
public final class GgmlLib {
    private static final System.Logger LOG = System.getLogger(GgmlLib.class.getName());

    /** The library file, in {@code .cache/llama-native/linux-x64}. */
    static final String LIBRARY = "libggml-base.so";
    /** GGML_TYPE_COUNT of ggml.h v0.5.0. */
    static final int TYPE_COUNT = 43;
    /** GGML_TYPE_Q8_K: base ggml has no to_float for it (the CPU backend does); its row functions are exported. */
    static final int TYPE_Q8_K = 15;

    /**
     * struct ggml_type_traits (ggml.h v0.5.0): sizeof 56; offsets 0/8/16/24/32/40/48 as gcc reports them for that
     * header ({@code offsetof} on x86-64 Linux), pinned by GgmlLibTest.
     */
    static final StructLayout TYPE_TRAITS = MemoryLayout.structLayout(
            ADDRESS.withName("type_name"),
            JAVA_LONG.withName("blck_size"),
            JAVA_LONG.withName("blck_size_interleave"),
            JAVA_LONG.withName("type_size"),
            JAVA_BOOLEAN.withName("is_quantized"),
            MemoryLayout.paddingLayout(7),
            ADDRESS.withName("to_float"),
            ADDRESS.withName("from_float_ref")).withName("ggml_type_traits");

    /** void (*ggml_to_float_t)(const void * x, float * y, int64_t k). */
    private static final FunctionDescriptor ROW_FN = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_LONG);

    /**
     * Types ggml_quantize_chunk takes without an importance matrix (its switch in ggml.c v0.5.0, minus IQ2_XXS,
     * IQ2_XS and IQ1_S which require one), plus Q8_K through quantize_row_q8_K_ref. Sorted.
     */
    private static final int[] QUANTIZABLE = {0, 1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 15, 18, 20, 21, 22, 23, 29, 30,
        34, 35, 39, 40, 41, 42};

    private static Optional<GgmlLib> instance;

    private final Path file;
    private final MethodHandle getTypeTraits, blckSize, typeSize, rowSize, quantizeChunk, dequantizeQ8K, quantizeQ8KRef;

    private GgmlLib(Path file, SymbolLookup lib) {
        this.file = file;
        var L = Linker.nativeLinker();
        getTypeTraits = L.downcallHandle(find(lib, "ggml_get_type_traits"), FunctionDescriptor.of(ADDRESS, JAVA_INT));
        blckSize = L.downcallHandle(find(lib, "ggml_blck_size"), FunctionDescriptor.of(JAVA_LONG, JAVA_INT));
        typeSize = L.downcallHandle(find(lib, "ggml_type_size"), FunctionDescriptor.of(JAVA_LONG, JAVA_INT));
        rowSize = L.downcallHandle(find(lib, "ggml_row_size"), FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG));
        quantizeChunk = L.downcallHandle(find(lib, "ggml_quantize_chunk"), FunctionDescriptor.of(JAVA_LONG,
                JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS));
        dequantizeQ8K = L.downcallHandle(find(lib, "dequantize_row_q8_K"), ROW_FN);
        quantizeQ8KRef = L.downcallHandle(find(lib, "quantize_row_q8_K_ref"), FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_LONG));
    }

    private static MemorySegment find(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new IllegalArgumentException("symbol " + name + " not found in " + LIBRARY));
    }

    /** The same directory as libllama's: {@link LlamaLib#defaultDirectory()}. */
    public static Path defaultDirectory() {
        return LlamaLib.defaultDirectory();
    }

    /** {@link #load(Path)} from {@link #defaultDirectory()}. */
    public static Optional<GgmlLib> load() {
        return load(defaultDirectory());
    }

    /**
     * Loads {@code dir/libggml-base.so} once per JVM (ggml cannot be unloaded) and checks the traits layout
     * against the type table it reports. Empty, with what was tried logged, when the file is missing or unusable.
     */
    public static synchronized Optional<GgmlLib> load(Path dir) {
        if (instance != null) {
            return instance;
        }
        Path file = dir.toAbsolutePath().normalize().resolve(LIBRARY);
        if (!Files.isRegularFile(file)) {
            LOG.log(System.Logger.Level.INFO, "ggml reference not available: " + file
                    + " not found (set -Djlora.llama.natives=DIR or run scripts/fetch-llama-natives.sh)");
            return Optional.empty();
        }
        try {
            var lib = new GgmlLib(file, SymbolLookup.libraryLookup(file, Arena.global()));
            lib.checkTraitsLayout();
            LOG.log(System.Logger.Level.DEBUG, "ggml reference loaded from " + file);
            instance = Optional.of(lib);
        } catch (IllegalArgumentException | IllegalStateException e) {
            LOG.log(System.Logger.Level.WARNING, "ggml reference not usable from " + file + ": " + e.getMessage());
            instance = Optional.empty();
        }
        return instance;
    }

    /** Refuses a library whose traits struct disagrees with the sizes it reports through ggml_blck_size/type_size. */
    private void checkTraitsLayout() {
        // Q4_K: 256 per block, 144 bytes, quantized, named "q4_K".
        MemorySegment t = traits(12);
        long blck = t.get(JAVA_LONG, off("blck_size")), size = t.get(JAVA_LONG, off("type_size"));
        boolean quantized = t.get(JAVA_BOOLEAN, off("is_quantized"));
        String name = t.get(ADDRESS, off("type_name")).reinterpret(64).getString(0);
        if (blck != blockSize(12) || size != typeSize(12) || !quantized || !name.equals("q4_K") || blck != 256 || size != 144) {
            throw new IllegalStateException(String.format("ggml_type_traits layout mismatch for q4_K: name=%s blck_size=%d "
                    + "type_size=%d is_quantized=%b (expected q4_K, 256, 144, true): not ggml v0.5.0?", name, blck, size, quantized));
        }
    }

    static long off(String field) {
        return TYPE_TRAITS.byteOffset(MemoryLayout.PathElement.groupElement(field));
    }

    /** The file this was loaded from. */
    public Path file() {
        return file;
    }

    private static void checkType(int type) {
        if (type < 0 || type >= TYPE_COUNT) {
            throw new IllegalArgumentException("ggml type " + type + " is outside 0.." + (TYPE_COUNT - 1));
        }
    }

    private MemorySegment traits(int type) {
        checkType(type);
        try {
            return ((MemorySegment) getTypeTraits.invokeExact(type)).reinterpret(TYPE_TRAITS.byteSize());
        } catch (Throwable e) {
            throw new IllegalStateException("ggml_get_type_traits(" + type + ") failed", e);
        }
    }

    /** ggml_blck_size(type): elements per block (0 for removed types). */
    public long blockSize(int type) {
        checkType(type);
        try {
            return (long) blckSize.invokeExact(type);
        } catch (Throwable e) {
            throw new IllegalStateException("ggml_blck_size(" + type + ") failed", e);
        }
    }

    /** ggml_type_size(type): bytes per block. */
    public long typeSize(int type) {
        checkType(type);
        try {
            return (long) typeSize.invokeExact(type);
        } catch (Throwable e) {
            throw new IllegalStateException("ggml_type_size(" + type + ") failed", e);
        }
    }

    /** ggml_row_size(type, n): bytes of a row of n elements; n must be a multiple of the block size. */
    public long rowSize(int type, long n) {
        checkRow(type, n);
        try {
            return (long) rowSize.invokeExact(type, n);
        } catch (Throwable e) {
            throw new IllegalStateException("ggml_row_size(" + type + ", " + n + ") failed", e);
        }
    }

    /** The type's name in ggml ({@code type_traits[type].type_name}). */
    public String typeName(int type) {
        MemorySegment p = traits(type).get(ADDRESS, off("type_name"));
        return p.equals(MemorySegment.NULL) ? "" : p.reinterpret(256).getString(0);
    }

    /** Whether ggml can dequantize this type ({@code to_float} set, or Q8_K through dequantize_row_q8_K). */
    public boolean canDequantize(int type) {
        return type == TYPE_Q8_K || !traits(type).get(ADDRESS, off("to_float")).equals(MemorySegment.NULL);
    }

    private void checkRow(int type, long n) {
        long blck = blockSize(type);
        if (blck <= 0) {
            throw new IllegalArgumentException("ggml type " + type + " has no block size (removed type)");
        }
        if (n < 0 || n % blck != 0) {
            throw new IllegalArgumentException("ggml type " + typeName(type) + " needs a row length divisible by " + blck + ", got " + n);
        }
    }

    /**
     * dst[0, n) = ggml's dequantization of the n elements in {@code src}, through
     * {@code ggml_get_type_traits(type)->to_float} (for Q8_K, whose base traits have none, the exported
     * {@code dequantize_row_q8_K}).
     */
    public void dequantizeRow(int type, byte[] src, float[] dst, int n) {
        checkRow(type, n);
        long bytes = rowSize(type, n);
        if (src.length < bytes || dst.length < n) {
            throw new IllegalArgumentException(String.format("dequantize %s of %d elements needs %d bytes and %d floats, got %d and %d",
                    typeName(type), n, bytes, n, src.length, dst.length));
        }
        MethodHandle fn;
        if (type == TYPE_Q8_K) {
            fn = dequantizeQ8K;
        } else {
            MemorySegment p = traits(type).get(ADDRESS, off("to_float"));
            if (p.equals(MemorySegment.NULL)) {
                throw new UnsupportedOperationException("ggml has no to_float for type " + typeName(type));
            }
            fn = Linker.nativeLinker().downcallHandle(p, ROW_FN);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment in = a.allocate(Math.max(1, bytes), 16);
            MemorySegment.copy(src, 0, in, ValueLayout.JAVA_BYTE, 0, (int) bytes);
            MemorySegment out = a.allocate(4L * Math.max(1, n), 16);
            fn.invokeExact(in, out, (long) n);
            MemorySegment.copy(out, ValueLayout.JAVA_FLOAT, 0, dst, 0, n);
        } catch (Throwable e) {
            throw new IllegalStateException("to_float(" + typeName(type) + ", " + n + " elements) failed", e);
        }
    }

    /**
     * ggml_quantize_chunk(type, src, dst, 0, nrows, nPerRow, NULL): quantizes nrows rows without an importance
     * matrix and returns the bytes. For Q8_K, which ggml_quantize_chunk does not take, quantize_row_q8_K_ref.
     *
     * @throws IllegalArgumentException for types that need an importance matrix or that ggml cannot quantize
     */
    public byte[] quantizeChunk(int type, float[] src, int nrows, int nPerRow) {
        checkRow(type, nPerRow);
        if (nrows < 0 || (long) nrows * nPerRow > src.length) {
            throw new IllegalArgumentException("quantize " + typeName(type) + ": " + nrows + " rows of " + nPerRow
                    + " need " + (long) nrows * nPerRow + " floats, got " + src.length);
        }
        if (java.util.Arrays.binarySearch(QUANTIZABLE, type) < 0) {
            throw new IllegalArgumentException("ggml_quantize_chunk cannot quantize " + typeName(type)
                    + " without an importance matrix (or at all)");
        }
        long bytes = rowSize(type, nPerRow) * nrows;
        try (Arena a = Arena.ofConfined()) {
            long n = (long) nrows * nPerRow;
            MemorySegment in = a.allocate(4L * Math.max(1, n), 16);
            MemorySegment.copy(src, 0, in, ValueLayout.JAVA_FLOAT, 0, (int) n);
            MemorySegment out = a.allocate(Math.max(1, bytes), 16);
            long written;
            if (type == TYPE_Q8_K) {
                quantizeQ8KRef.invokeExact(in, out, n);
                written = bytes;
            } else {
                written = (long) quantizeChunk.invokeExact(type, in, out, 0L, (long) nrows, (long) nPerRow, MemorySegment.NULL);
            }
            if (written != bytes) {
                throw new IllegalStateException("ggml_quantize_chunk(" + typeName(type) + ", " + nrows + "×" + nPerRow
                        + ") wrote " + written + " bytes, expected " + bytes);
            }
            return out.asSlice(0, bytes).toArray(ValueLayout.JAVA_BYTE);
        } catch (IllegalStateException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("ggml_quantize_chunk(" + typeName(type) + ", " + nrows + "×" + nPerRow + ") failed", e);
        }
    }
}
