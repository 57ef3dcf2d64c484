package dev.jlora.loaders.gguf;

import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.quant.QuantType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads GGUF v2/v3 files (ggml's {@code docs/gguf.md}, {@code gguf.cpp}): the header, every metadata value
 * type, tensor infos and the data section, memory-mapped through FFM so weights are never copied to the heap.
 *
 * <p>The whole file is input: every count, length, offset and shape is checked against the bytes that remain
 * before anything is allocated or sliced, so a corrupt or hostile header fails with a
 * {@link ModelFormatException} naming the file, the key or tensor and the expectation.
 */
public final class GgufReader {

    /** "GGUF" read as a little-endian uint32. */
    static final int MAGIC = 0x46554747;
    /** GGUF v3: tensor data aligned to general.alignment, 32 when absent. */
    static final int DEFAULT_ALIGNMENT = 32;
    /** ggml's GGML_MAX_DIMS. */
    static final int MAX_DIMS = 4;
    /** Longest metadata array we accept (vocabularies and merges stay far below: 152k, 300k). */
    static final long MAX_ARRAY_ELEMENTS = 1L << 24;
    /** Nested metadata arrays deeper than this are rejected (gguf.cpp allows no nesting at all on read). */
    static final int MAX_ARRAY_NESTING = 8;
    /** More tensors than this is not a model (a 405B Llama has about 1,100). */
    static final long MAX_TENSORS = 1L << 20;
    static final long MAX_KEYS = 1L << 20;

    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private GgufReader() {}

    /** Opens and validates {@code file}; the returned file owns its mapping and unmaps on {@link GgufFile#close()}. */
    public static GgufFile open(Path file) throws IOException {
        Arena arena = Arena.ofShared();
        try {
            return read(file, arena, true);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Opens and validates {@code file}, mapping it into {@code arena}: the tensor segments live as long as the
     * arena (use {@link Arena#ofAuto()} for a model that lives as long as it is referenced).
     */
    public static GgufFile open(Path file, Arena arena) throws IOException {
        return read(file, arena, false);
    }

    private static GgufFile read(Path file, Arena arena, boolean ownsArena) throws IOException {
        MemorySegment seg;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(file + ": no such file", e);
        }
        Header h = new Parser(file, seg).parse();
        return new GgufFile(file, h.version, h.alignment, h.dataOffset, h.metadata, h.tensors, seg, ownsArena ? arena : null);
    }

    record Header(int version, int alignment, long dataOffset, Map<String, GgufValue> metadata,
                  Map<String, GgufTensorInfo> tensors) {}

    /** Parses the header from the mapped file, bounds-checking every read. */
    private static final class Parser {
        private final Path file;
        private final MemorySegment seg;
        private final long size;
        private long pos;
        /** What is being read, for error messages: "metadata 'general.name'", "tensor info #3 'blk.0.attn_q.weight'". */
        private String where = "header";

        Parser(Path file, MemorySegment seg) {
            this.file = file;
            this.seg = seg;
            this.size = seg.byteSize();
        }

        Header parse() throws ModelFormatException {
            if (size < 24) {
                throw fail("file has %,d bytes, too small for a GGUF header (24 bytes: magic, version, counts)", size);
            }
            int magic = seg.get(U32, 0);
            if (magic != MAGIC) {
                byte[] m = new byte[4];
                MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, 0, m, 0, 4);
                throw fail("not a GGUF file: magic is %s, expected 'GGUF'", printableMagic(m));
            }
            pos = 4;
            int version = u32();
            if (version == 1) {
                throw fail("GGUF v1 (32-bit counts) is not supported; convert the model again with a current llama.cpp");
            }
            if (Integer.reverseBytes(version) == 2 || Integer.reverseBytes(version) == 3) {
                throw fail("big-endian GGUF (version %d byte-swapped) is not supported", Integer.reverseBytes(version));
            }
            if (version != 2 && version != 3) {
                throw fail("unsupported GGUF version %d (expected 2 or 3)", Integer.toUnsignedLong(version));
            }
            long nTensors = u64();
            long nKv = u64();
            // Each metadata entry takes at least 8 (key length) + 4 (type) + 1 bytes, each tensor info at least
            // 8 + 4 + 8 + 4 + 8: counts larger than the file allows are corrupt, whatever their value.
            checkCount(nKv, MAX_KEYS, 13, "metadata entries");
            checkCount(nTensors, MAX_TENSORS, 32, "tensors");

            Map<String, GgufValue> metadata = new LinkedHashMap<>();
            for (long i = 0; i < nKv; i++) {
                where = "metadata entry #" + i;
                String key = string();
                where = "metadata '" + key + "'";
                if (metadata.containsKey(key)) {
                    throw fail("duplicate metadata key");
                }
                GgufType type = valueType();
                metadata.put(key, value(type));
            }

            int alignment = DEFAULT_ALIGNMENT;
            GgufValue a = metadata.get("general.alignment");
            if (a != null) {
                where = "metadata 'general.alignment'";
                if (a.type() != GgufType.UINT32) {
                    throw fail("must be UINT32 but is %s", a.type());
                }
                long v = (Long) a.value();
                if (v == 0 || Long.bitCount(v) != 1 || v > (1 << 30)) {
                    throw fail("must be a power of two, got %d", v);
                }
                alignment = (int) v;
            }

            Map<String, GgufTensorInfo> tensors = new LinkedHashMap<>();
            for (long i = 0; i < nTensors; i++) {
                where = "tensor info #" + i;
                String name = string();
                where = "tensor '" + name + "'";
                if (tensors.containsKey(name)) {
                    throw fail("duplicate tensor name");
                }
                tensors.put(name, tensorInfo(name, alignment));
            }

            long dataOffset = alignUp(pos, alignment);
            where = "data section";
            if (nTensors > 0 && dataOffset > size) {
                throw fail("data section starts at byte %,d but the file has %,d bytes (truncated?)", dataOffset, size);
            }
            long dataSize = Math.max(0, size - dataOffset);
            checkTensorPlacement(tensors, dataOffset, dataSize);
            return new Header(version, alignment, dataOffset, metadata, tensors);
        }

        private GgufTensorInfo tensorInfo(String name, int alignment) throws ModelFormatException {
            int nDims = u32();
            if (nDims < 1 || nDims > MAX_DIMS) {
                throw fail("has %d dimensions, expected 1 to %d", Integer.toUnsignedLong(nDims), MAX_DIMS);
            }
            long[] shape = new long[nDims];
            for (int d = 0; d < nDims; d++) {
                shape[d] = u64();
                if (shape[d] < 0) {
                    throw fail("dimension %d is %s, more than 2^63-1", d, Long.toUnsignedString(shape[d]));
                }
            }
            int typeId = u32();
            QuantType type = QuantType.fromGgmlId(typeId);
            if (type == null) {
                throw fail("has ggml type %s, which jlora does not support (supported: %s)",
                        ggmlTypeName(typeId), supportedTypes());
            }
            long offset = u64();
            if (shape[0] % type.blockSize() != 0) {
                throw fail("type %s needs a row length divisible by %d, got %d (shape %s)",
                        type, type.blockSize(), shape[0], java.util.Arrays.toString(shape));
            }
            long byteSize;
            try {
                byteSize = Math.multiplyExact(shape[0] / type.blockSize(), (long) type.bytesPerBlock());
                for (int d = 1; d < nDims; d++) {
                    byteSize = Math.multiplyExact(byteSize, shape[d]);
                }
            } catch (ArithmeticException e) {
                throw fail("shape %s of type %s overflows 64-bit byte size", java.util.Arrays.toString(shape), type);
            }
            if (offset < 0 || offset % alignment != 0) {
                throw fail("data offset %s is not a multiple of general.alignment %d",
                        Long.toUnsignedString(offset), alignment);
            }
            return new GgufTensorInfo(name, shape, type, offset, byteSize);
        }

        private void checkTensorPlacement(Map<String, GgufTensorInfo> tensors, long dataOffset, long dataSize)
                throws ModelFormatException {
            for (GgufTensorInfo t : tensors.values()) {
                if (t.offset() > dataSize || t.byteSize() > dataSize - t.offset()) {
                    // offset and byteSize are each < 2^63; their sum may not fit a long.
                    var end = java.math.BigInteger.valueOf(dataOffset).add(java.math.BigInteger.valueOf(t.offset()))
                            .add(java.math.BigInteger.valueOf(t.byteSize()));
                    throw ModelFormatException.tensor(file, t.name(),
                            "data ends at byte %,d but the file has %,d bytes (truncated download?)", end, size);
                }
            }
            List<GgufTensorInfo> byOffset = new ArrayList<>(tensors.values());
            byOffset.sort(Comparator.comparingLong(GgufTensorInfo::offset));
            for (int i = 1; i < byOffset.size(); i++) {
                GgufTensorInfo prev = byOffset.get(i - 1);
                GgufTensorInfo cur = byOffset.get(i);
                if (cur.byteSize() > 0 && prev.offset() + prev.byteSize() > cur.offset()) {
                    throw ModelFormatException.tensor(file, cur.name(),
                            "data at offset %,d overlaps tensor '%s' (offset %,d, %,d bytes)",
                            cur.offset(), prev.name(), prev.offset(), prev.byteSize());
                }
            }
        }

        private GgufType valueType() throws ModelFormatException {
            int id = u32();
            GgufType t = GgufType.fromId(id);
            if (t == null) {
                throw fail("unknown metadata value type %d (expected 0 to 12)", Integer.toUnsignedLong(id));
            }
            return t;
        }

        private GgufValue value(GgufType type) throws ModelFormatException {
            return switch (type) {
                case ARRAY -> GgufValue.array(array(0));
                case STRING -> GgufValue.string(string());
                case FLOAT32 -> GgufValue.float32(seg.get(F32, take(4)));
                case FLOAT64 -> GgufValue.float64(seg.get(F64, take(8)));
                case BOOL -> GgufValue.bool(bool());
                default -> new GgufValue(type, integer(type));
            };
        }

        private GgufArray array(int depth) throws ModelFormatException {
            if (depth >= MAX_ARRAY_NESTING) {
                throw fail("arrays nested deeper than %d", MAX_ARRAY_NESTING);
            }
            GgufType et = valueType();
            long count = u64();
            // Bound the count by the bytes left before allocating: fixed-size elements need count·size bytes,
            // strings at least 8 (their length), nested arrays at least 12 (type + count).
            long minElem = switch (et) {
                case STRING -> 8;
                case ARRAY -> 12;
                default -> et.size();
            };
            checkCount(count, MAX_ARRAY_ELEMENTS, minElem, et + " array elements");
            int n = (int) count;
            Object data = switch (et) {
                case FLOAT32 -> {
                    float[] a = new float[n];
                    MemorySegment.copy(seg, F32, take(4L * n), a, 0, n);
                    yield a;
                }
                case FLOAT64 -> {
                    double[] a = new double[n];
                    MemorySegment.copy(seg, F64, take(8L * n), a, 0, n);
                    yield a;
                }
                case BOOL -> {
                    boolean[] a = new boolean[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = bool();
                    }
                    yield a;
                }
                case STRING -> {
                    String[] a = new String[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = string();
                    }
                    yield a;
                }
                case ARRAY -> {
                    GgufArray[] a = new GgufArray[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = array(depth + 1);
                    }
                    yield a;
                }
                default -> {
                    long[] a = new long[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = integer(et);
                    }
                    yield a;
                }
            };
            return GgufArray.wrap(et, data);
        }

        private long integer(GgufType t) throws ModelFormatException {
            return switch (t) {
                case UINT8 -> Byte.toUnsignedLong(seg.get(ValueLayout.JAVA_BYTE, take(1)));
                case INT8 -> seg.get(ValueLayout.JAVA_BYTE, take(1));
                case UINT16 -> Short.toUnsignedLong(seg.get(U16, take(2)));
                case INT16 -> seg.get(U16, take(2));
                case UINT32 -> Integer.toUnsignedLong(seg.get(U32, take(4)));
                case INT32 -> seg.get(U32, take(4));
                case UINT64, INT64 -> seg.get(U64, take(8));
                default -> throw new IllegalArgumentException(t.toString());
            };
        }

        private boolean bool() throws ModelFormatException {
            byte b = seg.get(ValueLayout.JAVA_BYTE, take(1));
            if (b != 0 && b != 1) {
                throw fail("BOOL value is %d, expected 0 or 1", b);
            }
            return b == 1;
        }

        private String string() throws ModelFormatException {
            long len = u64();
            if (len < 0 || len > size - pos) {
                throw fail("string of %s bytes at offset %,d runs past the end of the file (%,d bytes)",
                        Long.toUnsignedString(len), pos - 8, size);
            }
            if (len > Integer.MAX_VALUE - 8) {
                throw fail("string of %,d bytes is too long", len);
            }
            byte[] b = new byte[(int) len];
            MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, take(len), b, 0, (int) len);
            // gguf.cpp does not validate UTF-8; neither do we (invalid bytes become U+FFFD).
            return new String(b, StandardCharsets.UTF_8);
        }

        private int u32() throws ModelFormatException {
            return seg.get(U32, take(4));
        }

        private long u64() throws ModelFormatException {
            return seg.get(U64, take(8));
        }

        /** Claims n bytes at the cursor and returns their offset; fails if the file ends first. */
        private long take(long n) throws ModelFormatException {
            if (n > size - pos) {
                throw fail("needs %,d bytes at offset %,d but the file has %,d bytes (truncated?)", n, pos, size);
            }
            long at = pos;
            pos += n;
            return at;
        }

        private void checkCount(long count, long max, long minBytesEach, String what) throws ModelFormatException {
            if (count < 0 || count > max) {
                throw fail("count of %s is %s, more than the limit of %,d", what, Long.toUnsignedString(count), max);
            }
            if (minBytesEach > 0 && count > (size - pos) / minBytesEach) {
                throw fail("count of %s is %,d, but only %,d bytes remain in the file (at least %d per element)",
                        what, count, size - pos, minBytesEach);
            }
        }

        private ModelFormatException fail(String format, Object... args) {
            return new ModelFormatException(file.getFileName() + ": " + where + ": " + String.format(format, args));
        }
    }

    static long alignUp(long x, long alignment) {
        return (x + alignment - 1) / alignment * alignment;
    }

    private static String printableMagic(byte[] m) {
        StringBuilder sb = new StringBuilder("'");
        for (byte b : m) {
            sb.append(b >= 0x20 && b < 0x7F ? String.valueOf((char) b) : String.format("\\x%02X", b & 0xFF));
        }
        return sb.append("'").toString();
    }

    /** ggml's type names by id (ggml.h enum ggml_type), for naming formats jlora does not support. */
    private static final String[] GGML_TYPE_NAMES = {
        "F32", "F16", "Q4_0", "Q4_1", "Q4_2 (removed)", "Q4_3 (removed)", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
        "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
        "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M",
        "BF16", "Q4_0_4_4 (removed)", "Q4_0_4_8 (removed)", "Q4_0_8_8 (removed)", "TQ1_0", "TQ2_0",
        "IQ4_NL_4_4 (removed)", "IQ4_NL_4_8 (removed)", "IQ4_NL_8_8 (removed)", "MXFP4",
    };

    static String ggmlTypeName(int id) {
        return id >= 0 && id < GGML_TYPE_NAMES.length ? GGML_TYPE_NAMES[id] + " (id " + id + ")"
                : "id " + Integer.toUnsignedLong(id) + " (unknown to ggml)";
    }

    private static String supportedTypes() {
        StringBuilder sb = new StringBuilder();
        for (QuantType t : QuantType.values()) {
            if (t.ggmlId() >= 0) {
                sb.append(sb.isEmpty() ? "" : ", ").append(t);
            }
        }
        return sb.toString();
    }
}
