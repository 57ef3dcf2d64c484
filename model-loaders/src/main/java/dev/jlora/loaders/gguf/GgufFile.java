package dev.jlora.loaders.gguf;

import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.quant.QuantType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * An opened, validated GGUF file: typed metadata and memory-mapped tensors. Made by {@link GgufReader}.
 *
 * <p>Metadata getters throw {@link ModelFormatException} naming the file, the key and the expected type
 * ({@code stories260K.gguf: metadata 'llama.attention.head_count' must be an integer (UINT32, INT32, …) but is
 * STRING}). Integer getters accept any integer type whose value fits; float getters accept FLOAT32, FLOAT64
 * and integers. Thread-safe for reading.
 */
public final class GgufFile implements AutoCloseable {

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path path;
    private final int version;
    private final int alignment;
    private final long dataOffset;
    private final Map<String, GgufValue> metadata;
    private final Map<String, GgufTensorInfo> tensors;
    private final MemorySegment mapped;
    private final Arena ownedArena;

    GgufFile(Path path, int version, int alignment, long dataOffset, Map<String, GgufValue> metadata,
             Map<String, GgufTensorInfo> tensors, MemorySegment mapped, Arena ownedArena) {
        this.path = path;
        this.version = version;
        this.alignment = alignment;
        this.dataOffset = dataOffset;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.tensors = Collections.unmodifiableMap(tensors);
        this.mapped = mapped;
        this.ownedArena = ownedArena;
    }

    public Path path() {
        return path;
    }

    /** GGUF version: 2 or 3. */
    public int version() {
        return version;
    }

    /** Alignment of tensor data: general.alignment, 32 when absent. */
    public int alignment() {
        return alignment;
    }

    /** Byte offset of the data section in the file. */
    public long dataOffset() {
        return dataOffset;
    }

    /** File size in bytes. */
    public long fileSize() {
        return mapped.byteSize();
    }

    // ------------------------------------------------------------------------------------------- metadata

    /** All metadata in file order, unmodifiable. */
    public Map<String, GgufValue> metadata() {
        return metadata;
    }

    public boolean has(String key) {
        return metadata.containsKey(key);
    }

    /** The value of {@code key}, or null when absent. */
    public GgufValue value(String key) {
        return metadata.get(key);
    }

    /**
     * The value of {@code key} as plain Java, or null when absent: String, Long (every integer type; UINT64 as raw
     * bits), Float, Double, Boolean, or an array's {@link GgufArray#toJava()} form. This is the shape
     * {@code Tokenizers.fromGgufMetadata(path, gguf::javaValue)} reads.
     */
    public Object javaValue(String key) {
        GgufValue v = metadata.get(key);
        if (v == null) {
            return null;
        }
        return v.value() instanceof GgufArray a ? a.toJava() : v.value();
    }

    public String getString(String key) throws ModelFormatException {
        return (String) require(key, GgufType.STRING, "STRING").value();
    }

    public String getString(String key, String defaultValue) throws ModelFormatException {
        return has(key) ? getString(key) : defaultValue;
    }

    public long getLong(String key) throws ModelFormatException {
        GgufValue v = require(key, null, "an integer (UINT32, INT32, UINT64, …)");
        if (!v.type().isInteger()) {
            throw wrongType(key, "an integer (UINT32, INT32, UINT64, …)", v.type());
        }
        long l = (Long) v.value();
        if (v.type() == GgufType.UINT64 && l < 0) {
            throw metadataError(key, "value %s does not fit in a signed 64-bit integer", Long.toUnsignedString(l));
        }
        return l;
    }

    public long getLong(String key, long defaultValue) throws ModelFormatException {
        return has(key) ? getLong(key) : defaultValue;
    }

    public int getInt(String key) throws ModelFormatException {
        long l = getLong(key);
        if (l < Integer.MIN_VALUE || l > Integer.MAX_VALUE) {
            throw metadataError(key, "value %d does not fit in a 32-bit integer", l);
        }
        return (int) l;
    }

    public int getInt(String key, int defaultValue) throws ModelFormatException {
        return has(key) ? getInt(key) : defaultValue;
    }

    public float getFloat(String key) throws ModelFormatException {
        GgufValue v = require(key, null, "FLOAT32");
        return switch (v.value()) {
            case Float f -> f;
            case Double d -> d.floatValue();
            case Long l when v.type().isInteger() -> (float) l;
            default -> throw wrongType(key, "FLOAT32", v.type());
        };
    }

    public float getFloat(String key, float defaultValue) throws ModelFormatException {
        return has(key) ? getFloat(key) : defaultValue;
    }

    public boolean getBoolean(String key) throws ModelFormatException {
        return (Boolean) require(key, GgufType.BOOL, "BOOL").value();
    }

    public boolean getBoolean(String key, boolean defaultValue) throws ModelFormatException {
        return has(key) ? getBoolean(key) : defaultValue;
    }

    public GgufArray getArray(String key) throws ModelFormatException {
        return (GgufArray) require(key, GgufType.ARRAY, "ARRAY").value();
    }

    /** A STRING array. */
    public List<String> getStringArray(String key) throws ModelFormatException {
        return typedArray(key, GgufType.STRING).strings();
    }

    /** A FLOAT32 (or FLOAT64) array. */
    public float[] getFloatArray(String key) throws ModelFormatException {
        GgufArray a = getArray(key);
        if (!a.elementType().isFloat()) {
            throw metadataError(key, "must be an array of FLOAT32 but is an array of %s", a.elementType());
        }
        return a.toFloatArray();
    }

    /** An array of any integer type whose values fit in an int. */
    public int[] getIntArray(String key) throws ModelFormatException {
        GgufArray a = getArray(key);
        if (!a.elementType().isInteger()) {
            throw metadataError(key, "must be an array of INT32 but is an array of %s", a.elementType());
        }
        try {
            return a.toIntArray();
        } catch (IllegalStateException e) {
            throw metadataError(key, "%s", e.getMessage());
        }
    }

    private GgufArray typedArray(String key, GgufType elementType) throws ModelFormatException {
        GgufArray a = getArray(key);
        if (a.elementType() != elementType) {
            throw metadataError(key, "must be an array of %s but is an array of %s", elementType, a.elementType());
        }
        return a;
    }

    private GgufValue require(String key, GgufType type, String expected) throws ModelFormatException {
        GgufValue v = metadata.get(key);
        if (v == null) {
            throw metadataError(key, "is missing (expected %s)", expected);
        }
        if (type != null && v.type() != type) {
            throw wrongType(key, expected, v.type());
        }
        return v;
    }

    private ModelFormatException wrongType(String key, String expected, GgufType actual) {
        return metadataError(key, "must be %s but is %s", expected, actual);
    }

    private ModelFormatException metadataError(String key, String format, Object... args) {
        return new ModelFormatException(path.getFileName() + ": metadata '" + key + "' " + String.format(format, args));
    }

    // -------------------------------------------------------------------------------------------- tensors

    /** Tensor infos in file order. */
    public List<GgufTensorInfo> tensors() {
        return List.copyOf(tensors.values());
    }

    public boolean hasTensor(String name) {
        return tensors.containsKey(name);
    }

    public Optional<GgufTensorInfo> findTensor(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    /** The tensor {@code name}; a missing tensor is a format error naming it. */
    public GgufTensorInfo tensor(String name) throws ModelFormatException {
        GgufTensorInfo t = tensors.get(name);
        if (t == null) {
            throw ModelFormatException.tensor(path, name, "is missing (the file has %d tensors)", tensors.size());
        }
        return t;
    }

    /** The mapped bytes of tensor {@code name} (read-only, valid until the arena closes). */
    public MemorySegment tensorData(String name) throws ModelFormatException {
        return tensorData(tensor(name));
    }

    /** The mapped bytes of {@code t}, a tensor of this file. */
    public MemorySegment tensorData(GgufTensorInfo t) {
        if (tensors.get(t.name()) != t) {
            throw new IllegalArgumentException("tensor " + t.name() + " is not from " + path);
        }
        return mapped.asSlice(dataOffset + t.offset(), t.byteSize());
    }

    /** Tensor {@code name} copied to fp32 (F32, F16 or BF16 storage), for norms, biases and small tensors. */
    public float[] readFloats(String name) throws ModelFormatException {
        GgufTensorInfo t = tensor(name);
        long n = t.elementCount();
        if (n > Integer.MAX_VALUE - 8) {
            throw ModelFormatException.tensor(path, name, "has %,d elements, too many for a float[]", n);
        }
        MemorySegment d = tensorData(t);
        float[] out = new float[(int) n];
        switch (t.type()) {
            case F32 -> MemorySegment.copy(d, F32, 0, out, 0, out.length);
            case F16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = Float.float16ToFloat(d.get(U16, 2L * i));
                }
            }
            case BF16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = Float.intBitsToFloat((d.get(U16, 2L * i) & 0xFFFF) << 16);
                }
            }
            default -> throw ModelFormatException.tensor(path, name,
                    "is %s; expected F32, F16 or BF16 for a tensor read as floats", t.type());
        }
        return out;
    }

    /** Checks that tensor {@code name} has ggml shape {@code expected} (ne order) and returns it. */
    public GgufTensorInfo requireShape(String name, long... expected) throws ModelFormatException {
        GgufTensorInfo t = tensor(name);
        if (!Arrays.equals(t.shape(), expected)) {
            throw ModelFormatException.tensor(path, name, "has shape %s, expected %s (ggml order, contiguous first)",
                    Arrays.toString(t.shape()), Arrays.toString(expected));
        }
        return t;
    }

    /** The storage types of the tensors, for summaries. */
    public Map<QuantType, Integer> typeCounts() {
        var m = new java.util.EnumMap<QuantType, Integer>(QuantType.class);
        for (GgufTensorInfo t : tensors.values()) {
            m.merge(t.type(), 1, Integer::sum);
        }
        return m;
    }

    /** Unmaps the file if this object owns its arena; tensor segments become unusable. */
    @Override
    public void close() {
        if (ownedArena != null) {
            ownedArena.close();
        }
    }

    @Override
    public String toString() {
        return path.getFileName() + " (GGUF v" + version + ", " + metadata.size() + " metadata, " + tensors.size()
                + " tensors)";
    }
}
