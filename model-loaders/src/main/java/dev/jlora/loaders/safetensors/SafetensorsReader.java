package dev.jlora.loaders.safetensors;

import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.JsonParseException;
import dev.jlora.engine.io.ModelFormatException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Reads safetensors files (huggingface/safetensors {@code docs}: an 8-byte little-endian header length N, N bytes
 * of JSON header, then the data), single or sharded through {@code model.safetensors.index.json}, memory-mapped
 * through FFM. The header is validated before any tensor is touched: its size (at most 100,000,000 bytes, the
 * reference implementation's limit), dtypes, shapes, {@code data_offsets} within the data and consistent with
 * dtype × shape, and no two tensors overlapping.
 */
public final class SafetensorsReader {

    /** huggingface/safetensors MAX_HEADER_SIZE. */
    static final long MAX_HEADER_BYTES = 100_000_000L;
    static final String INDEX_FILE = "model.safetensors.index.json";
    static final String SINGLE_FILE = "model.safetensors";

    private SafetensorsReader() {}

    /**
     * Opens a model's weights: {@code path} is a {@code .safetensors} file, a {@code model.safetensors.index.json},
     * or a directory holding one of those (index first, then {@code model.safetensors}, then a lone
     * {@code *.safetensors}). The result owns its mappings and unmaps on close.
     */
    public static SafetensorsFile open(Path path) throws IOException {
        Arena arena = Arena.ofShared();
        try {
            return open(path, arena, true);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** As {@link #open(Path)}, mapping into {@code arena}, which the caller closes. */
    public static SafetensorsFile open(Path path, Arena arena) throws IOException {
        return open(path, arena, false);
    }

    private static SafetensorsFile open(Path path, Arena arena, boolean owns) throws IOException {
        Path p = resolve(path);
        Map<String, SafetensorsTensor> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        List<Path> files = new ArrayList<>();
        if (p.getFileName().toString().endsWith(".json")) {
            readIndex(p, arena, tensors, metadata, files);
        } else {
            files.add(p);
            readFile(p, arena, tensors, metadata);
        }
        return new SafetensorsFile(List.copyOf(files), tensors, metadata, owns ? arena : null);
    }

    private static Path resolve(Path path) throws IOException {
        if (!Files.exists(path)) {
            throw new ModelFormatException(path + ": no such file or directory");
        }
        if (!Files.isDirectory(path)) {
            return path;
        }
        if (Files.isRegularFile(path.resolve(INDEX_FILE))) {
            return path.resolve(INDEX_FILE);
        }
        if (Files.isRegularFile(path.resolve(SINGLE_FILE))) {
            return path.resolve(SINGLE_FILE);
        }
        List<Path> found;
        try (Stream<Path> s = Files.list(path)) {
            found = s.filter(f -> f.getFileName().toString().endsWith(".safetensors")).sorted().toList();
        }
        if (found.size() == 1) {
            return found.getFirst();
        }
        throw new ModelFormatException(path + ": expected " + INDEX_FILE + " or " + SINGLE_FILE + " (found "
                + (found.isEmpty() ? "no .safetensors file" : found.size() + " .safetensors files and no index") + ")");
    }

    @SuppressWarnings("unchecked")
    private static void readIndex(Path index, Arena arena, Map<String, SafetensorsTensor> tensors,
                                  Map<String, String> metadata, List<Path> files) throws IOException {
        Map<String, Object> root = Json.readObject(index);
        if (root.get("metadata") instanceof Map<?, ?> m) {
            m.forEach((k, v) -> metadata.put((String) k, v == null ? "null" : v instanceof String s ? s : Json.write(v)));
        }
        if (!(root.get("weight_map") instanceof Map<?, ?> wm)) {
            throw ModelFormatException.field(index, "weight_map", "must be an object mapping tensor names to shard "
                    + "files, found %s", Json.typeName(root.get("weight_map")));
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (var e : ((Map<String, Object>) wm).entrySet()) {
            if (!(e.getValue() instanceof String shard)) {
                throw ModelFormatException.field(index, "weight_map." + e.getKey(), "must be a file name, found %s",
                        Json.typeName(e.getValue()));
            }
            // A shard is a sibling of the index: no directories, no escaping the model directory.
            if (shard.isEmpty() || shard.contains("/") || shard.contains("\\") || shard.equals("..") || shard.equals(".")) {
                throw ModelFormatException.field(index, "weight_map." + e.getKey(),
                        "shard '%s' must be a plain file name next to the index", shard);
            }
            weightMap.put(e.getKey(), shard);
        }
        Path dir = index.toAbsolutePath().getParent();
        for (String shard : new java.util.LinkedHashSet<>(weightMap.values())) {
            Path f = dir.resolve(shard);
            if (!Files.isRegularFile(f)) {
                throw ModelFormatException.of(index, "shard '%s' named in weight_map does not exist", shard);
            }
            files.add(f);
            readFile(f, arena, tensors, metadata);
        }
        for (var e : weightMap.entrySet()) {
            SafetensorsTensor t = tensors.get(e.getKey());
            if (t == null || !t.file().getFileName().toString().equals(e.getValue())) {
                throw ModelFormatException.tensor(index, e.getKey(), "weight_map places it in %s, but %s", e.getValue(),
                        t == null ? "no shard holds it" : "it is in " + t.file().getFileName());
            }
        }
    }

    private static void readFile(Path file, Arena arena, Map<String, SafetensorsTensor> tensors,
                                 Map<String, String> metadata) throws IOException {
        MemorySegment seg;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        }
        long size = seg.byteSize();
        if (size < 8) {
            throw ModelFormatException.of(file, "file has %d bytes, too small for a safetensors header length", size);
        }
        long n = seg.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (n < 2 || n > MAX_HEADER_BYTES) {
            throw ModelFormatException.of(file, "header length is %s bytes, expected 2 to %,d (not a safetensors file?)",
                    Long.toUnsignedString(n), MAX_HEADER_BYTES);
        }
        if (n > size - 8) {
            throw ModelFormatException.of(file, "header of %,d bytes runs past the end of the file (%,d bytes; truncated?)",
                    n, size);
        }
        byte[] hb = seg.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(hb)).toString();
        } catch (CharacterCodingException e) {
            throw ModelFormatException.of(file, "header is not valid UTF-8");
        }
        Map<String, Object> header;
        try {
            // Headers are flat: {name: {dtype, shape, data_offsets}}; depth 4 is plenty.
            header = Json.parseObject(text, new Json.Limits(4, MAX_HEADER_BYTES, (int) MAX_HEADER_BYTES, 64),
                    file.getFileName() + " header");
        } catch (JsonParseException e) {
            throw new ModelFormatException(e.getMessage(), e);
        }
        long dataStart = 8 + n;
        long dataSize = size - dataStart;
        List<long[]> ranges = new ArrayList<>();
        List<String> names = new ArrayList<>();
        for (var e : header.entrySet()) {
            String name = e.getKey();
            if (name.equals("__metadata__")) {
                if (!(e.getValue() instanceof Map<?, ?> m)) {
                    throw ModelFormatException.field(file, "__metadata__", "must be an object of strings, found %s",
                            Json.typeName(e.getValue()));
                }
                for (var me : m.entrySet()) {
                    if (!(me.getValue() instanceof String s)) {
                        throw ModelFormatException.field(file, "__metadata__." + me.getKey(), "must be a string, found %s",
                                Json.typeName(me.getValue()));
                    }
                    metadata.put((String) me.getKey(), s);
                }
                continue;
            }
            if (tensors.containsKey(name)) {
                throw ModelFormatException.tensor(file, name, "appears in %s and %s", tensors.get(name).file().getFileName(),
                        file.getFileName());
            }
            if (!(e.getValue() instanceof Map<?, ?> info)) {
                throw ModelFormatException.tensor(file, name, "header entry must be an object, found %s",
                        Json.typeName(e.getValue()));
            }
            for (Object k : info.keySet()) {
                if (!k.equals("dtype") && !k.equals("shape") && !k.equals("data_offsets")) {
                    throw ModelFormatException.tensor(file, name, "unexpected header field '%s' (expected dtype, shape, "
                            + "data_offsets)", k);
                }
            }
            if (!(info.get("dtype") instanceof String dtypeName)) {
                throw ModelFormatException.tensor(file, name, "dtype must be a string, found %s", Json.typeName(info.get("dtype")));
            }
            SafetensorsDtype dtype = SafetensorsDtype.parse(dtypeName);
            if (dtype == null) {
                throw ModelFormatException.tensor(file, name, "unknown dtype '%s' (expected one of %s)", dtypeName,
                        Arrays.toString(SafetensorsDtype.values()));
            }
            long[] shape = longs(file, name, "shape", info.get("shape"), -1);
            long[] off = longs(file, name, "data_offsets", info.get("data_offsets"), 2);
            long bytes;
            try {
                bytes = dtype.size();
                for (long d : shape) {
                    bytes = Math.multiplyExact(bytes, d);
                }
            } catch (ArithmeticException ex) {
                throw ModelFormatException.tensor(file, name, "shape %s overflows a 64-bit byte count", Arrays.toString(shape));
            }
            if (off[0] > off[1]) {
                throw ModelFormatException.tensor(file, name, "data_offsets [%d, %d] end before they begin", off[0], off[1]);
            }
            if (off[1] - off[0] != bytes) {
                throw ModelFormatException.tensor(file, name, "data_offsets [%d, %d] span %,d bytes, but %s %s needs %,d",
                        off[0], off[1], off[1] - off[0], dtype, Arrays.toString(shape), bytes);
            }
            if (off[1] > dataSize) {
                throw ModelFormatException.tensor(file, name, "data ends at byte %,d but the file has %,d bytes "
                        + "(truncated download?)", dataStart + off[1], size);
            }
            ranges.add(off);
            names.add(name);
            tensors.put(name, new SafetensorsTensor(name, dtype, shape, file, seg.asSlice(dataStart + off[0], bytes)));
        }
        Integer[] order = new Integer[ranges.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, Comparator.comparingLong(i -> ranges.get(i)[0]));
        for (int i = 1; i < order.length; i++) {
            long[] prev = ranges.get(order[i - 1]);
            long[] cur = ranges.get(order[i]);
            if (cur[0] < prev[1] && cur[1] > cur[0]) {
                throw ModelFormatException.tensor(file, names.get(order[i]), "data_offsets [%d, %d] overlap tensor '%s' "
                        + "[%d, %d]", cur[0], cur[1], names.get(order[i - 1]), prev[0], prev[1]);
            }
        }
    }

    private static long[] longs(Path file, String tensor, String field, Object v, int wantLength)
            throws ModelFormatException {
        if (!(v instanceof List<?> list) || (wantLength >= 0 && list.size() != wantLength)) {
            throw ModelFormatException.tensor(file, tensor, "%s must be an array of %s non-negative integers, found %s",
                    field, wantLength >= 0 ? String.valueOf(wantLength) : "", v instanceof List<?> l
                            ? "an array of " + l.size() : Json.typeName(v));
        }
        if (list.size() > 8) {
            throw ModelFormatException.tensor(file, tensor, "%s has %d dimensions, more than 8", field, list.size());
        }
        long[] out = new long[list.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(list.get(i) instanceof Long l) || l < 0) {
                throw ModelFormatException.tensor(file, tensor, "%s[%d] must be a non-negative integer, found %s",
                        field, i, list.get(i));
            }
            out[i] = l;
        }
        return out;
    }
}
