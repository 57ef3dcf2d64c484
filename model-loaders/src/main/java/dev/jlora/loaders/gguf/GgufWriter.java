package dev.jlora.loaders.gguf;

import dev.jlora.loaders.io.AtomicFile;
import dev.jlora.quant.QuantType;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Builds a GGUF v3 file: metadata of every type, then tensor infos, then tensor data, each tensor aligned to
 * {@code general.alignment} (32 unless put) and laid out back to back in insertion order, as gguf.cpp writes
 * and expects. {@link #write(Path)} is atomic (temporary file, force, rename); tensor data is written through
 * a memory mapping of the output, so sources fill their slice directly and weights are never staged twice.
 */
public final class GgufWriter {

    /** ggml's GGML_MAX_NAME: names must be shorter (in UTF-8 bytes) for llama.cpp to load the file. */
    static final int MAX_NAME_BYTES = 64;

    /**
     * Fills a tensor's slice of the output file (exactly its byte size, zero-initialised). The slice may be
     * written from other threads until fill returns.
     */
    @FunctionalInterface
    public interface TensorSource {
        void fill(MemorySegment dest) throws IOException;
    }

    private record PendingTensor(String name, QuantType type, long[] shape, long byteSize, TensorSource source) {}

    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final Map<String, PendingTensor> tensors = new LinkedHashMap<>();

    /** Sets metadata {@code key} (replacing an earlier value, keeping its position). */
    public GgufWriter put(String key, GgufValue value) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
        if (key.equals("general.alignment")) {
            if (value.type() != GgufType.UINT32 || Long.bitCount((Long) value.value()) != 1) {
                throw new IllegalArgumentException("general.alignment must be a UINT32 power of two, got " + value);
            }
        }
        metadata.put(key, value);
        return this;
    }

    /** Copies every entry of {@code values} (a read file's metadata) except general.alignment. */
    public GgufWriter putAll(Map<String, GgufValue> values) {
        values.forEach((k, v) -> {
            if (!k.equals("general.alignment")) {
                put(k, v);
            }
        });
        return this;
    }

    public GgufWriter putString(String key, String v) {
        return put(key, GgufValue.string(v));
    }

    public GgufWriter putUint32(String key, long v) {
        return put(key, GgufValue.uint32(v));
    }

    public GgufWriter putInt32(String key, int v) {
        return put(key, GgufValue.int32(v));
    }

    public GgufWriter putFloat32(String key, float v) {
        return put(key, GgufValue.float32(v));
    }

    public GgufWriter putBool(String key, boolean v) {
        return put(key, GgufValue.bool(v));
    }

    public GgufWriter putArray(String key, GgufArray v) {
        return put(key, GgufValue.array(v));
    }

    /** Adds a tensor whose bytes are {@code data} (any segment: heap, mapped, native). */
    public GgufWriter addTensor(String name, QuantType type, long[] shape, MemorySegment data) {
        long size = byteSize(name, type, shape);
        if (data.byteSize() != size) {
            throw new IllegalArgumentException("tensor '" + name + "': " + type + " " + Arrays.toString(shape)
                    + " needs " + size + " bytes, data has " + data.byteSize());
        }
        return add(name, type, shape, size, dest -> MemorySegment.copy(data, 0, dest, 0, size));
    }

    /** Adds an F32 tensor with the values of {@code data}. */
    public GgufWriter addTensor(String name, long[] shape, float[] data) {
        return addTensor(name, QuantType.F32, shape, MemorySegment.ofArray(data));
    }

    /** Adds a tensor whose bytes {@code source} writes when the file is written. */
    public GgufWriter addTensor(String name, QuantType type, long[] shape, TensorSource source) {
        return add(name, type, shape, byteSize(name, type, shape), source);
    }

    private GgufWriter add(String name, QuantType type, long[] shape, long size, TensorSource source) {
        if (tensors.containsKey(name)) {
            throw new IllegalArgumentException("duplicate tensor name '" + name + "'");
        }
        tensors.put(name, new PendingTensor(name, type, shape.clone(), size, source));
        return this;
    }

    private static long byteSize(String name, QuantType type, long[] shape) {
        Objects.requireNonNull(type, "type");
        if (name.isEmpty() || name.getBytes(StandardCharsets.UTF_8).length >= MAX_NAME_BYTES) {
            throw new IllegalArgumentException("tensor name '" + name + "' must have 1 to " + (MAX_NAME_BYTES - 1)
                    + " UTF-8 bytes");
        }
        if (type.ggmlId() < 0) {
            throw new IllegalArgumentException("tensor '" + name + "': " + type + " has no ggml type id, GGUF cannot hold it");
        }
        if (shape.length < 1 || shape.length > GgufReader.MAX_DIMS) {
            throw new IllegalArgumentException("tensor '" + name + "' needs 1 to 4 dimensions, got " + shape.length);
        }
        long size = type.rowBytes(shape[0]);
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor '" + name + "' has a negative dimension: " + Arrays.toString(shape));
            }
        }
        for (int i = 1; i < shape.length; i++) {
            size = Math.multiplyExact(size, shape[i]);
        }
        return size;
    }

    private int alignment() {
        GgufValue a = metadata.get("general.alignment");
        return a == null ? GgufReader.DEFAULT_ALIGNMENT : (int) (long) (Long) a.value();
    }

    /** Writes the file atomically. */
    public void write(Path file) throws IOException {
        int alignment = alignment();
        List<PendingTensor> list = new ArrayList<>(tensors.values());
        long[] offsets = new long[list.size()];
        long dataSize = 0;
        for (int i = 0; i < list.size(); i++) {
            offsets[i] = dataSize;
            dataSize = GgufReader.alignUp(dataSize + list.get(i).byteSize(), alignment);
        }
        Out h = new Out();
        h.u32(GgufReader.MAGIC);
        h.u32(3);
        h.u64(list.size());
        h.u64(metadata.size());
        for (var e : metadata.entrySet()) {
            h.string(e.getKey());
            h.u32(e.getValue().type().id());
            h.value(e.getValue());
        }
        for (int i = 0; i < list.size(); i++) {
            PendingTensor t = list.get(i);
            h.string(t.name());
            h.u32(t.shape().length);
            for (long d : t.shape()) {
                h.u64(d);
            }
            h.u32(t.type().ggmlId());
            h.u64(offsets[i]);
        }
        byte[] header = h.toByteArray();
        long dataStart = GgufReader.alignUp(header.length, alignment);
        long total = dataStart + dataSize;
        AtomicFile.write(file, ch -> {
            ByteBuffer b = ByteBuffer.wrap(header);
            while (b.hasRemaining()) {
                ch.write(b);
            }
            if (list.isEmpty()) {
                return;
            }
            // Shared: a source may fill its slice from several threads (quantizing rows in parallel).
            try (Arena arena = Arena.ofShared()) {
                // Mapping past the end grows the file; the gaps (alignment padding) read as zeros.
                MemorySegment out = ch.map(FileChannel.MapMode.READ_WRITE, 0, total, arena);
                for (int i = 0; i < list.size(); i++) {
                    PendingTensor t = list.get(i);
                    t.source().fill(out.asSlice(dataStart + offsets[i], t.byteSize()));
                }
                out.force();
            }
        });
    }

    /** Little-endian byte sink for the header. */
    private static final class Out extends ByteArrayOutputStream {
        void u8(int v) {
            write(v);
        }

        void u16(int v) {
            write(v);
            write(v >>> 8);
        }

        void u32(int v) {
            for (int i = 0; i < 4; i++) {
                write(v >>> (8 * i));
            }
        }

        void u64(long v) {
            for (int i = 0; i < 8; i++) {
                write((int) (v >>> (8 * i)));
            }
        }

        void string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            write(b, 0, b.length);
        }

        void value(GgufValue v) {
            switch (v.type()) {
                case ARRAY -> array((GgufArray) v.value());
                case STRING -> string((String) v.value());
                case FLOAT32 -> u32(Float.floatToRawIntBits((Float) v.value()));
                case FLOAT64 -> u64(Double.doubleToRawLongBits((Double) v.value()));
                case BOOL -> u8((Boolean) v.value() ? 1 : 0);
                default -> integer(v.type(), (Long) v.value());
            }
        }

        void integer(GgufType t, long v) {
            switch (t.size()) {
                case 1 -> u8((int) v);
                case 2 -> u16((int) v);
                case 4 -> u32((int) v);
                default -> u64(v);
            }
        }

        void array(GgufArray a) {
            u32(a.elementType().id());
            u64(a.size());
            switch (a.data()) {
                case long[] x -> {
                    for (long v : x) {
                        integer(a.elementType(), v);
                    }
                }
                case float[] x -> {
                    for (float v : x) {
                        u32(Float.floatToRawIntBits(v));
                    }
                }
                case double[] x -> {
                    for (double v : x) {
                        u64(Double.doubleToRawLongBits(v));
                    }
                }
                case boolean[] x -> {
                    for (boolean v : x) {
                        u8(v ? 1 : 0);
                    }
                }
                case String[] x -> {
                    for (String v : x) {
                        string(v);
                    }
                }
                case GgufArray[] x -> {
                    for (GgufArray v : x) {
                        array(v);
                    }
                }
                default -> throw new IllegalStateException();
            }
        }
    }
}
