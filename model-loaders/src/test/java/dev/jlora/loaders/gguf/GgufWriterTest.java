package dev.jlora.loaders.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.quant.QuantType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufWriterTest {

    @TempDir
    Path dir;

    @Test
    void everyMetadataTypeAndTensorRoundTrips() throws Exception {
        var rnd = new SplittableRandom(11);
        byte[] q8 = new byte[(int) QuantType.Q8_0.rowBytes(64) * 3];
        byte[] q4k = new byte[(int) QuantType.Q4_K.rowBytes(256) * 2];
        rnd.nextBytes(q8);
        rnd.nextBytes(q4k);
        float[] f32 = new float[5 * 7];
        for (int i = 0; i < f32.length; i++) {
            f32[i] = (float) rnd.nextGaussian();
        }
        GgufArray nested = GgufArray.ofArrays(List.of(
                GgufArray.ofIntegers(GgufType.INT16, -3, 0, 32767),
                GgufArray.ofArrays(List.of(GgufArray.ofStrings(List.of("deep", "")))),
                GgufArray.ofFloats()));
        GgufWriter w = new GgufWriter()
                .put("general.alignment", GgufValue.uint32(64))
                .put("u8", GgufValue.uint8(255)).put("i8", GgufValue.int8(-128))
                .put("u16", GgufValue.uint16(65535)).put("i16", GgufValue.int16(-32768))
                .putUint32("u32", 0xFFFF_FFFFL).putInt32("i32", Integer.MIN_VALUE)
                .put("u64", GgufValue.uint64(-1L)).put("i64", GgufValue.int64(Long.MIN_VALUE))
                .putFloat32("f32", -1.5e-7f).put("f64", GgufValue.float64(Math.PI))
                .putBool("yes", true).putBool("no", false)
                .putString("s", "héllo \u0000 😀")
                .putArray("a.u8", GgufArray.ofIntegers(GgufType.UINT8, 0, 255))
                .putArray("a.u32", GgufArray.ofIntegers(GgufType.UINT32, 0L, 0xFFFF_FFFFL))
                .putArray("a.u64", GgufArray.ofIntegers(GgufType.UINT64, -1L, 5L))
                .putArray("a.f32", GgufArray.ofFloats(1f, Float.NaN, -0f))
                .putArray("a.f64", GgufArray.ofDoubles(1e300))
                .putArray("a.bool", GgufArray.ofBools(true, false, true))
                .putArray("a.str", GgufArray.ofStrings(List.of("a", "", "ü")))
                .putArray("a.nested", nested)
                .addTensor("w.f32", new long[] {7, 5}, f32)
                .addTensor("w.q8", QuantType.Q8_0, new long[] {64, 3}, MemorySegment.ofArray(q8))
                .addTensor("w.q4k", QuantType.Q4_K, new long[] {256, 2, 1}, dest ->
                        MemorySegment.copy(MemorySegment.ofArray(q4k), 0, dest, 0, q4k.length));
        Path p = dir.resolve("all.gguf");
        w.write(p);
        try (GgufFile f = GgufReader.open(p)) {
            assertEquals(64, f.alignment());
            assertEquals(0, f.dataOffset() % 64);
            assertEquals(255, f.getInt("u8"));
            assertEquals(-128, f.getInt("i8"));
            assertEquals(65535, f.getInt("u16"));
            assertEquals(-32768, f.getInt("i16"));
            assertEquals(0xFFFF_FFFFL, f.getLong("u32"));
            assertEquals(Integer.MIN_VALUE, f.getInt("i32"));
            assertEquals(GgufValue.uint64(-1L), f.value("u64"));
            assertEquals(Long.MIN_VALUE, f.getLong("i64"));
            assertEquals(-1.5e-7f, f.getFloat("f32"));
            assertEquals(Math.PI, (Double) f.value("f64").value());
            assertTrue(f.getBoolean("yes"));
            assertFalse(f.getBoolean("no"));
            assertEquals("héllo \u0000 😀", f.getString("s"));
            assertArrayEquals(new int[] {0, 255}, f.getIntArray("a.u8"));
            assertArrayEquals(new long[] {0, 0xFFFF_FFFFL}, f.getArray("a.u32").toLongArray());
            assertArrayEquals(new long[] {-1L, 5L}, f.getArray("a.u64").toLongArray());
            assertArrayEquals(new float[] {1f, Float.NaN, -0f}, f.getFloatArray("a.f32"));
            assertEquals(1e300, f.getArray("a.f64").getDouble(0));
            assertArrayEquals(new boolean[] {true, false, true}, f.getArray("a.bool").toBoolArray());
            assertEquals(List.of("a", "", "ü"), f.getStringArray("a.str"));
            assertEquals(nested, f.getArray("a.nested"));
            assertEquals("deep", f.getArray("a.nested").getArray(1).getArray(0).getString(0));

            assertArrayEquals(f32, f.readFloats("w.f32"));
            assertArrayEquals(new long[] {7, 5}, f.tensor("w.f32").shape());
            assertArrayEquals(q8, f.tensorData("w.q8").toArray(ValueLayout.JAVA_BYTE));
            assertEquals(QuantType.Q4_K, f.tensor("w.q4k").type());
            assertArrayEquals(new long[] {256, 2, 1}, f.tensor("w.q4k").shape());
            assertArrayEquals(q4k, f.tensorData("w.q4k").toArray(ValueLayout.JAVA_BYTE));
            for (GgufTensorInfo t : f.tensors()) {
                assertEquals(0, t.offset() % 64, t.name());
            }
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of(p), files.toList(), "no temporary file may remain");
        }
    }

    @Test
    void rewritingStories260KReproducesTheFileByteForByte() throws Exception {
        Path out = dir.resolve("copy.gguf");
        try (GgufFile f = GgufReader.open(GgufReaderTest.stories())) {
            GgufWriter w = new GgufWriter().putAll(f.metadata());
            for (GgufTensorInfo t : f.tensors()) {
                w.addTensor(t.name(), t.type(), t.shape(), f.tensorData(t));
            }
            w.write(out);
        }
        // Same metadata order, same alignment, same back-to-back layout as llama.cpp's writer.
        assertArrayEquals(Files.readAllBytes(GgufReaderTest.stories()), Files.readAllBytes(out));
    }

    @Test
    void failedWriteLeavesNoFileUnderTheFinalName() throws Exception {
        Path p = dir.resolve("model.gguf");
        GgufWriter w = new GgufWriter().addTensor("t", QuantType.F32, new long[] {4}, dest -> {
            throw new IOException("source failed");
        });
        assertThrows(IOException.class, () -> w.write(p));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(), files.toList());
        }
    }

    @Test
    void writerRejectsWhatLlamaCppCouldNotLoad() {
        var w = new GgufWriter();
        w.addTensor("x", new long[] {2}, new float[2]);
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("x", new long[] {2}, new float[2]));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("n".repeat(64), new long[] {2}, new float[2]));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("y", new long[] {3}, new float[2]));
        assertThrows(IllegalArgumentException.class,
                () -> w.addTensor("q", QuantType.Q4_0, new long[] {33, 1}, MemorySegment.ofArray(new byte[18])));
        assertThrows(IllegalArgumentException.class,
                () -> w.addTensor("nf4", QuantType.NF4, new long[] {64}, MemorySegment.ofArray(new byte[32])));
        assertThrows(IllegalArgumentException.class, () -> w.put("general.alignment", GgufValue.uint32(48)));
        assertThrows(IllegalArgumentException.class, () -> GgufValue.uint8(256));
        assertThrows(IllegalArgumentException.class, () -> GgufArray.ofIntegers(GgufType.INT8, 1, 200));
    }
}
