package dev.jlora.loaders.safetensors;

import dev.jlora.engine.io.ModelFormatException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The tensors of one safetensors file or of all shards of a sharded checkpoint, validated and mapped.
 * Made by {@link SafetensorsReader}. Thread-safe for reading.
 */
public final class SafetensorsFile implements AutoCloseable {

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final List<Path> files;
    private final Map<String, SafetensorsTensor> tensors;
    private final Map<String, String> metadata;
    private final Arena ownedArena;

    SafetensorsFile(List<Path> files, Map<String, SafetensorsTensor> tensors, Map<String, String> metadata,
                    Arena ownedArena) {
        this.files = files;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.metadata = Collections.unmodifiableMap(metadata);
        this.ownedArena = ownedArena;
    }

    /** The shard files, in the order they were read. */
    public List<Path> files() {
        return files;
    }

    /** {@code __metadata__} of every shard (and the index's {@code metadata}), merged. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Tensors by name, in header order. */
    public Map<String, SafetensorsTensor> tensors() {
        return tensors;
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }

    /** Tensor {@code name}; a missing tensor is a format error naming it. */
    public SafetensorsTensor tensor(String name) throws ModelFormatException {
        SafetensorsTensor t = tensors.get(name);
        if (t == null) {
            throw ModelFormatException.tensor(files.getFirst(), name, "is missing (%s %d tensors)",
                    files.size() == 1 ? "the file has" : "the " + files.size() + " shards have", tensors.size());
        }
        return t;
    }

    /** Tensor {@code name}, checked to have row-major {@code shape}. */
    public SafetensorsTensor requireShape(String name, long... shape) throws ModelFormatException {
        SafetensorsTensor t = tensor(name);
        if (!Arrays.equals(t.shape(), shape)) {
            throw ModelFormatException.tensor(t.file(), name, "has shape %s, expected %s", Arrays.toString(t.shape()),
                    Arrays.toString(shape));
        }
        return t;
    }

    /** Tensor {@code name} (F32, F16 or BF16) copied to fp32. */
    public float[] readFloats(String name) throws ModelFormatException {
        return readFloats(tensor(name));
    }

    /** Tensor {@code t} (F32, F16 or BF16) copied to fp32. */
    public static float[] readFloats(SafetensorsTensor t) throws ModelFormatException {
        long n = t.elementCount();
        if (n > Integer.MAX_VALUE - 8) {
            throw ModelFormatException.tensor(t.file(), t.name(), "has %,d elements, too many for a float[]", n);
        }
        MemorySegment d = t.data();
        float[] out = new float[(int) n];
        switch (t.dtype()) {
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
            default -> throw ModelFormatException.tensor(t.file(), t.name(), "has dtype %s; expected F32, F16 or BF16",
                    t.dtype());
        }
        return out;
    }

    /** Unmaps the files if this object owns its arena. */
    @Override
    public void close() {
        if (ownedArena != null) {
            ownedArena.close();
        }
    }
}
