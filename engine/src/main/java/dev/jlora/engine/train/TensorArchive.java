package dev.jlora.engine.train;

import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.ModelFormatException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * jlora's own container for training checkpoints and saved adapters: named fp32 tensors plus string metadata.
 *
 * <pre>
 *   8 bytes   magic "JLORATA1"
 *   4 bytes   header length H, little-endian uint32
 *   H bytes   UTF-8 JSON: {"meta": {string: string}, "tensors": [{"name": s, "shape": [d…], "offset": o}, …]}
 *   …         tensor data, fp32 little-endian, each at data start + offset (offsets in bytes, in order, no gaps)
 * </pre>
 * Writes are atomic: a temporary file in the same folder is written, forced to disk and renamed over the target.
 */
public final class TensorArchive {
    static final byte[] MAGIC = "JLORATA1".getBytes(StandardCharsets.US_ASCII);
    static final int MAX_HEADER = 64 << 20;

    /** Contents of an archive. */
    public record Contents(Map<String, String> meta, Map<String, float[]> tensors, Map<String, int[]> shapes) {}

    private TensorArchive() {}

    /** Writes {@code tensors} (shapes by the same names; a missing shape means a flat vector) atomically to {@code file}. */
    public static void write(Path file, Map<String, String> meta, Map<String, float[]> tensors,
                             Map<String, int[]> shapes) throws IOException {
        var list = new ArrayList<Object>();
        long offset = 0;
        for (var e : tensors.entrySet()) {
            int[] shape = shapes.getOrDefault(e.getKey(), new int[] {e.getValue().length});
            long n = 1;
            var dims = new ArrayList<Object>();
            for (int d : shape) {
                n *= d;
                dims.add((long) d);
            }
            if (n != e.getValue().length) {
                throw new IllegalArgumentException("tensor '" + e.getKey() + "' has " + e.getValue().length
                        + " values but shape " + dims);
            }
            var t = new LinkedHashMap<String, Object>();
            t.put("name", e.getKey());
            t.put("shape", dims);
            t.put("offset", offset);
            list.add(t);
            offset += 4L * n;
        }
        var header = new LinkedHashMap<String, Object>();
        header.put("meta", new LinkedHashMap<>(meta));
        header.put("tensors", list);
        byte[] h = Json.write(header).getBytes(StandardCharsets.UTF_8);

        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + file.getFileName(), ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
                 OutputStream out = new java.io.BufferedOutputStream(java.nio.channels.Channels.newOutputStream(ch), 1 << 16)) {
                out.write(MAGIC);
                out.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(h.length).array());
                out.write(h);
                ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
                for (float[] v : tensors.values()) {
                    for (float f : v) {
                        if (buf.remaining() < 4) {
                            out.write(buf.array(), 0, buf.position());
                            buf.clear();
                        }
                        buf.putFloat(f);
                    }
                }
                out.write(buf.array(), 0, buf.position());
                out.flush();
                ch.force(true);
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    public static Contents read(Path file) throws IOException {
        long size = Files.size(file);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer head = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, head, file, "header");
            head.flip();
            byte[] magic = new byte[8];
            head.get(magic);
            if (!java.util.Arrays.equals(magic, MAGIC)) {
                throw ModelFormatException.of(file, "not a jlora tensor archive (magic %s, expected JLORATA1)",
                        new String(magic, StandardCharsets.ISO_8859_1).replaceAll("[^ -~]", "?"));
            }
            long hl = Integer.toUnsignedLong(head.getInt());
            if (hl > MAX_HEADER || 12 + hl > size) {
                throw ModelFormatException.of(file, "header length %,d does not fit the file of %,d bytes", hl, size);
            }
            ByteBuffer hb = ByteBuffer.allocate((int) hl);
            readFully(ch, hb, file, "header");
            Map<String, Object> header = Json.parseObject(new String(hb.array(), StandardCharsets.UTF_8),
                    Json.Limits.DEFAULT, file.getFileName() + " header");
            long dataStart = 12 + hl;
            var meta = new LinkedHashMap<String, String>();
            if (!(header.get("meta") instanceof Map<?, ?> m)) {
                throw ModelFormatException.field(file, "meta", "expected an object");
            }
            for (var e : m.entrySet()) {
                if (!(e.getValue() instanceof String s)) {
                    throw ModelFormatException.field(file, "meta." + e.getKey(), "expected a string");
                }
                meta.put((String) e.getKey(), s);
            }
            if (!(header.get("tensors") instanceof List<?> list)) {
                throw ModelFormatException.field(file, "tensors", "expected an array");
            }
            var tensors = new LinkedHashMap<String, float[]>();
            var shapes = new LinkedHashMap<String, int[]>();
            for (Object o : list) {
                if (!(o instanceof Map<?, ?> t) || !(t.get("name") instanceof String name)
                        || !(t.get("shape") instanceof List<?> dims) || !(t.get("offset") instanceof Long off)) {
                    throw ModelFormatException.field(file, "tensors", "each entry needs name, shape and offset");
                }
                int[] shape = new int[dims.size()];
                long n = 1;
                for (int i = 0; i < shape.length; i++) {
                    if (!(dims.get(i) instanceof Long d) || d <= 0 || d > Integer.MAX_VALUE) {
                        throw ModelFormatException.tensor(file, name, "dimension %d is %s, expected a positive int", i, dims.get(i));
                    }
                    shape[i] = (int) (long) d;
                    n *= d;
                    if (n > Integer.MAX_VALUE - 8) {
                        throw ModelFormatException.tensor(file, name, "shape %s is too large", dims);
                    }
                }
                long end = dataStart + off + 4 * n;
                if (off < 0 || end > size) {
                    throw ModelFormatException.tensor(file, name,
                            "data ends at byte %,d but the file has %,d bytes (truncated?)", end, size);
                }
                if (tensors.containsKey(name)) {
                    throw ModelFormatException.tensor(file, name, "appears twice");
                }
                ByteBuffer db = ByteBuffer.allocate((int) (4 * n)).order(ByteOrder.LITTLE_ENDIAN);
                ch.position(dataStart + off);
                readFully(ch, db, file, name);
                db.flip();
                float[] v = new float[(int) n];
                db.asFloatBuffer().get(v);
                tensors.put(name, v);
                shapes.put(name, shape);
            }
            return new Contents(meta, tensors, shapes);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer b, Path file, String what) throws IOException {
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) {
                throw ModelFormatException.of(file, "unexpected end of file while reading %s", what);
            }
        }
    }
}
