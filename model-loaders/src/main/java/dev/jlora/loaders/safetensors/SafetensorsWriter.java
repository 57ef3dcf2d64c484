package dev.jlora.loaders.safetensors;

import dev.jlora.engine.io.Json;
import dev.jlora.loaders.io.AtomicFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
 * Builds a safetensors file: header JSON (tensors in insertion order, then {@code __metadata__}), padded with
 * spaces to a multiple of 8 bytes as the reference writer does, then the tensors back to back. {@link #write}
 * is atomic (temporary file, force, rename).
 */
public final class SafetensorsWriter {

    private record Pending(String name, SafetensorsDtype dtype, long[] shape, MemorySegment data) {}

    private final Map<String, Pending> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    /** Adds {@code __metadata__} entry {@code key}. */
    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(Objects.requireNonNull(key), Objects.requireNonNull(value));
        return this;
    }

    /** Adds a tensor whose bytes (little-endian {@code dtype}, row-major {@code shape}) are {@code data}. */
    public SafetensorsWriter add(String name, SafetensorsDtype dtype, long[] shape, MemorySegment data) {
        Objects.requireNonNull(name, "name");
        if (name.equals("__metadata__") || tensors.containsKey(name)) {
            throw new IllegalArgumentException("tensor name '" + name + "' is reserved or already used");
        }
        long bytes = dtype.size();
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor '" + name + "' has a negative dimension " + Arrays.toString(shape));
            }
            bytes = Math.multiplyExact(bytes, d);
        }
        if (data.byteSize() != bytes) {
            throw new IllegalArgumentException("tensor '" + name + "': " + dtype + " " + Arrays.toString(shape)
                    + " needs " + bytes + " bytes, data has " + data.byteSize());
        }
        tensors.put(name, new Pending(name, dtype, shape.clone(), data));
        return this;
    }

    /** Adds an F32 tensor. */
    public SafetensorsWriter add(String name, long[] shape, float[] data) {
        MemorySegment seg = MemorySegment.ofArray(new byte[data.length * 4]);
        MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, data.length);
        return add(name, SafetensorsDtype.F32, shape, seg);
    }

    /** Adds a tensor of {@code dtype} F16 or BF16 rounded from fp32 values (round to nearest even). */
    public SafetensorsWriter add(String name, SafetensorsDtype dtype, long[] shape, float[] data) {
        if (dtype == SafetensorsDtype.F32) {
            return add(name, shape, data);
        }
        MemorySegment seg = MemorySegment.ofArray(new byte[data.length * 2]);
        var u16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < data.length; i++) {
            short h = switch (dtype) {
                case F16 -> Float.floatToFloat16(data[i]);
                case BF16 -> bf16(data[i]);
                default -> throw new IllegalArgumentException("cannot convert floats to " + dtype);
            };
            seg.set(u16, 2L * i, h);
        }
        return add(name, dtype, shape, seg);
    }

    /** fp32 → bfloat16, round to nearest even; NaN stays NaN. */
    static short bf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** Writes the file atomically. */
    public void write(Path file) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        List<Pending> list = new ArrayList<>(tensors.values());
        long offset = 0;
        for (Pending p : list) {
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("dtype", p.dtype().name());
            info.put("shape", p.shape());
            info.put("data_offsets", new long[] {offset, offset + p.data().byteSize()});
            header.put(p.name(), info);
            offset += p.data().byteSize();
        }
        if (!metadata.isEmpty()) {
            header.put("__metadata__", metadata);
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        byte[] head = new byte[8 + padded];
        ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).put(json);
        Arrays.fill(head, 8 + json.length, head.length, (byte) ' ');
        long total = head.length + offset;
        AtomicFile.write(file, ch -> {
            ByteBuffer b = ByteBuffer.wrap(head);
            while (b.hasRemaining()) {
                ch.write(b);
            }
            if (list.isEmpty() || total == head.length) {
                return;
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = ch.map(FileChannel.MapMode.READ_WRITE, 0, total, arena);
                long at = head.length;
                for (Pending p : list) {
                    MemorySegment.copy(p.data(), 0, out, at, p.data().byteSize());
                    at += p.data().byteSize();
                }
                out.force();
            }
        });
    }
}
