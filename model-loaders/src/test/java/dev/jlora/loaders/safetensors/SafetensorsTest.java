package dev.jlora.loaders.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.io.ModelFormatException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {

    @TempDir
    Path dir;

    /**
     * torch-ref.safetensors was written by huggingface safetensors 0.8.0 ({@code safetensors.torch.save_file}, torch
     * 1.13) from: a.f32 = linspace(-1, 1, 10).reshape(5, 2); d.scalar = tensor(2.5); b.bf16 = arange(6).reshape(2, 3)
     * .bfloat16() / 3; c.f16 = (arange(4) / 7).half(); metadata {format: pt, note: jlora fixture}. The expected
     * values below are what {@code load_file} returned, printed as float32.
     */
    @Test
    void readsFileWrittenByHuggingFaceSafetensors() throws Exception {
        Path p = Path.of(getClass().getResource("/safetensors/torch-ref.safetensors").toURI());
        try (SafetensorsFile f = SafetensorsReader.open(p)) {
            assertEquals(Map.of("format", "pt", "note", "jlora fixture"), f.metadata());
            assertEquals(List.of("a.f32", "d.scalar", "b.bf16", "c.f16"), List.copyOf(f.tensors().keySet()));
            assertArrayEquals(new float[] {-1.0f, -0.7777777910232544f, -0.5555555820465088f, -0.3333333134651184f,
                    -0.1111111044883728f, 0.1111111044883728f, 0.3333333134651184f, 0.5555555820465088f,
                    0.7777777910232544f, 1.0f}, f.readFloats("a.f32"));
            assertArrayEquals(new long[] {5, 2}, f.tensor("a.f32").shape());
            assertArrayEquals(new long[] {}, f.tensor("d.scalar").shape());
            assertArrayEquals(new float[] {2.5f}, f.readFloats("d.scalar"));
            assertEquals(SafetensorsDtype.BF16, f.tensor("b.bf16").dtype());
            assertArrayEquals(new float[] {0.0f, 0.333984375f, 0.66796875f, 1.0f, 1.3359375f, 1.6640625f},
                    f.readFloats("b.bf16"));
            assertArrayEquals(new float[] {0.0f, 0.142822265625f, 0.28564453125f, 0.428466796875f}, f.readFloats("c.f16"));
            assertTrue(f.tensor("a.f32").data().isMapped());
        }
    }

    @Test
    void writerRoundTripsAllFloatDtypesAndMetadata() throws Exception {
        var rnd = new SplittableRandom(5);
        float[] w = new float[6 * 7];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) rnd.nextGaussian();
        }
        Path p = dir.resolve("model.safetensors");
        new SafetensorsWriter().metadata("format", "pt")
                .add("w", new long[] {6, 7}, w)
                .add("h", SafetensorsDtype.F16, new long[] {6, 7}, w)
                .add("b", SafetensorsDtype.BF16, new long[] {42}, w)
                .add("empty", new long[] {0, 3}, new float[0])
                .write(p);
        byte[] raw = Files.readAllBytes(p);
        long n = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8, "header padded to 8 bytes");
        try (SafetensorsFile f = SafetensorsReader.open(dir)) {
            assertEquals(Map.of("format", "pt"), f.metadata());
            assertArrayEquals(w, f.readFloats("w"));
            float[] h = f.readFloats("h");
            float[] b = f.readFloats("b");
            for (int i = 0; i < w.length; i++) {
                // Round to nearest: half an ulp of the narrow format (fp16: 2^-11 relative, bf16: 2^-8).
                assertEquals(w[i], h[i], Math.abs(w[i]) * 0x1p-11 + 0x1p-25, "f16[" + i + "]");
                assertEquals(w[i], b[i], Math.abs(w[i]) * 0x1p-8, "bf16[" + i + "]");
                assertEquals(Float.float16ToFloat(Float.floatToFloat16(w[i])), h[i], 0f);
            }
            assertEquals(0, f.readFloats("empty").length);
        }
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals((short) 0x3F80, SafetensorsWriter.bf16(1.0f));
        assertEquals((short) 0x3F80, SafetensorsWriter.bf16(Float.intBitsToFloat(0x3F808000))); // tie → even
        assertEquals((short) 0x3F82, SafetensorsWriter.bf16(Float.intBitsToFloat(0x3F818000))); // tie → even (up)
        assertEquals((short) 0x3F81, SafetensorsWriter.bf16(Float.intBitsToFloat(0x3F808001)));
        assertTrue(Float.isNaN(Float.intBitsToFloat(SafetensorsWriter.bf16(Float.NaN) << 16)));
    }

    @Test
    void shardedCheckpointThroughIndex() throws Exception {
        new SafetensorsWriter().add("a", new long[] {2}, new float[] {1, 2}).write(dir.resolve("model-00001-of-00002.safetensors"));
        new SafetensorsWriter().add("b", new long[] {1}, new float[] {3}).write(dir.resolve("model-00002-of-00002.safetensors"));
        Files.writeString(dir.resolve("model.safetensors.index.json"), """
                {"metadata": {"total_size": 12}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                 "b": "model-00002-of-00002.safetensors"}}""");
        try (SafetensorsFile f = SafetensorsReader.open(dir)) {
            assertEquals(2, f.files().size());
            assertArrayEquals(new float[] {1, 2}, f.readFloats("a"));
            assertArrayEquals(new float[] {3}, f.readFloats("b"));
            assertEquals("12", f.metadata().get("total_size"));
            var e = assertThrows(ModelFormatException.class, () -> f.tensor("c"));
            assertEquals("model-00001-of-00002.safetensors: tensor 'c': is missing (the 2 shards have 2 tensors)", e.getMessage());
        }
        Files.writeString(dir.resolve("model.safetensors.index.json"),
                "{\"weight_map\": {\"a\": \"../model-00001-of-00002.safetensors\"}}");
        expectError(dir, "field 'weight_map.a': shard '../model-00001-of-00002.safetensors' must be a plain file name");
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\": {\"a\": \"missing.safetensors\"}}");
        expectError(dir, "shard 'missing.safetensors' named in weight_map does not exist");
        Files.writeString(dir.resolve("model.safetensors.index.json"),
                "{\"weight_map\": {\"a\": \"model-00002-of-00002.safetensors\"}}");
        expectError(dir, "tensor 'a': weight_map places it in model-00002-of-00002.safetensors, but no shard holds it");
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\": [1]}");
        expectError(dir, "field 'weight_map': must be an object");
    }

    private static byte[] file(String header, int dataBytes) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        return b.array();
    }

    private void expectError(Path p, String expected) {
        var e = assertThrows(ModelFormatException.class, () -> SafetensorsReader.open(p).close());
        assertTrue(e.getMessage().contains(expected), () -> "'" + e.getMessage() + "' should contain '" + expected + "'");
    }

    private void expectError(byte[] content, String expected) throws Exception {
        Path p = dir.resolve("bad.safetensors");
        Files.write(p, content);
        expectError(p, expected);
    }

    @Test
    void hostileHeadersFailClearly() throws Exception {
        expectError(new byte[3], "bad.safetensors: file has 3 bytes, too small");
        byte[] huge = new byte[16];
        ByteBuffer.wrap(huge).order(ByteOrder.LITTLE_ENDIAN).putLong(Long.MAX_VALUE);
        expectError(huge, "header length is 9223372036854775807 bytes, expected 2 to 100,000,000");
        ByteBuffer.wrap(huge).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1000);
        expectError(huge, "header of 1,000 bytes runs past the end of the file (16 bytes; truncated?)");
        expectError(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]", 4),
                "bad.safetensors header: line 1, column");
        expectError(file("[1, 2]", 0), "expected a JSON object at the top level");
        expectError(file("{\"a\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4),
                "tensor 'a': unknown dtype 'Q4'");
        expectError(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 8),
                "tensor 'a': data_offsets [0, 4] span 4 bytes, but F32 [2] needs 8");
        expectError(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 4),
                "tensor 'a': data ends at byte");
        expectError(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 8),
                "data_offsets [8, 0] end before they begin");
        expectError(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8),
                "shape[0] must be a non-negative integer, found -2");
        expectError(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 8]}}", 8),
                "shape[0] must be a non-negative integer, found 1.5");
        expectError(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4611686018427387904], "
                + "\"data_offsets\": [0, 8]}}", 8), "overflows a 64-bit byte count");
        expectError(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}}", 8),
                "data_offsets must be an array of 2 non-negative integers, found an array of 1");
        expectError(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8], \"x\": 1}}", 8),
                "unexpected header field 'x'");
        expectError(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                + "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12),
                "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
        expectError(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                + "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8), "duplicate object key \"a\"");
        expectError(file("{\"__metadata__\": {\"k\": 1}}", 0), "field '__metadata__.k': must be a string, found number");
        expectError(dir.resolve("nothing-here"), "no such file or directory");
    }

    /** Random edits of the fixture's 8-byte length and JSON header: it opens or fails with ModelFormatException. */
    @Test
    void corruptedHeadersOpenOrFailCleanly() throws Exception {
        byte[] orig = Files.readAllBytes(Path.of(getClass().getResource("/safetensors/torch-ref.safetensors").toURI()));
        int headerEnd = 8 + 304;
        long seed = 99;
        var rnd = new SplittableRandom(seed);
        String alphabet = "{}[],:\"0123456789-.eFBI_ ";
        Path p = dir.resolve("fuzz.safetensors");
        int rejected = 0;
        for (int iter = 0; iter < 400; iter++) {
            byte[] b = orig.clone();
            for (int e = 1 + rnd.nextInt(3); e > 0; e--) {
                int at = rnd.nextInt(headerEnd);
                b[at] = at < 8 || rnd.nextInt(4) == 0 ? (byte) rnd.nextInt(256)
                        : (byte) alphabet.charAt(rnd.nextInt(alphabet.length()));
            }
            Files.write(p, b);
            try (SafetensorsFile f = SafetensorsReader.open(p)) {
                for (SafetensorsTensor t : f.tensors().values()) {
                    assertEquals(t.elementCount() * t.dtype().size(), t.data().byteSize(), t.name());
                }
            } catch (ModelFormatException expected) {
                rejected++;
            } catch (Throwable t) {
                throw new AssertionError("iteration " + iter + " (seed " + seed + "): " + t, t);
            }
        }
        assertTrue(rejected > 100, "rejected " + rejected);
    }
}
