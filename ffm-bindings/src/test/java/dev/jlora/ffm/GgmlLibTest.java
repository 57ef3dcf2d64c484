package dev.jlora.ffm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.jlora.quant.QuantType;
import dev.jlora.quant.testing.RandomBlocks;
import dev.jlora.quant.testing.RandomBlocks.Kind;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * jlora's block formats against ggml itself (libggml-base v0.5.0): the table, dequantization bit for bit on
 * random blocks and boundary blocks, and quantization byte for byte against ggml_quantize_chunk.
 */
@Tag("native")
class GgmlLibTest {
    private static GgmlLib ggml;

    @BeforeAll
    static void loadGgml() {
        var lib = GgmlLib.load();
        if (lib.isEmpty()) {
            String msg = "libggml-base.so not found/usable in " + GgmlLib.defaultDirectory()
                    + " (run scripts/fetch-llama-natives.sh)";
            if (System.getenv("CI") != null) {
                fail(msg + "; under CI the ggml reference is required");
            }
            assumeTrue(false, msg);
        }
        ggml = lib.get();
    }

    @Test
    void traitsLayoutIsPinned() {
        // gcc offsetof on ggml.h v0.5.0 (x86-64): sizeof 56, fields at 0/8/16/24/32/40/48.
        assertEquals(56, GgmlLib.TYPE_TRAITS.byteSize());
        assertEquals(8, GgmlLib.off("blck_size"));
        assertEquals(24, GgmlLib.off("type_size"));
        assertEquals(32, GgmlLib.off("is_quantized"));
        assertEquals(40, GgmlLib.off("to_float"));
        assertEquals(48, GgmlLib.off("from_float_ref"));
        assertEquals("q4_0", ggml.typeName(2));
    }

    @ParameterizedTest
    @EnumSource(value = QuantType.class, names = "NF4", mode = EnumSource.Mode.EXCLUDE)
    void tableAgreesWithGgml(QuantType t) {
        int id = t.ggmlId();
        assertEquals(t.name().toLowerCase(java.util.Locale.ROOT), ggml.typeName(id).toLowerCase(java.util.Locale.ROOT), "name of ggml type " + id);
        assertEquals(t.blockSize(), ggml.blockSize(id), t + " block size");
        assertEquals(t.bytesPerBlock(), ggml.typeSize(id), t + " bytes per block");
        assertEquals(t.rowBytes(4096), ggml.rowSize(id, 4096), t + " row bytes");
        assertEquals(t, QuantType.fromGgmlId(id));
    }

    @ParameterizedTest
    @EnumSource(value = QuantType.class, names = "NF4", mode = EnumSource.Mode.EXCLUDE)
    void dequantizeIsBitExactWithGgmlToFloat(QuantType t) {
        // ggml has no to_float for F32 (the data is the value); there the reference is the bytes read as floats.
        assertEquals(t != QuantType.F32, ggml.canDequantize(t.ggmlId()), "ggml has to_float for " + t);
        for (Kind kind : Kind.values()) {
            for (int rep = 0; rep < 4; rep++) {
                var rnd = new SplittableRandom(1000L * t.ordinal() + 10L * kind.ordinal() + rep);
                int n = t.blockSize() == 1 ? 1000 + rep : t.blockSize() * (1 + rep * 3);
                MemorySegment blocks = RandomBlocks.of(t, rnd, n, kind);
                byte[] bytes = blocks.toArray(ValueLayout.JAVA_BYTE);
                float[] want = new float[n], got = new float[n], gotRef = new float[n];
                if (t == QuantType.F32) {
                    MemorySegment.copy(blocks, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0, want, 0, n);
                } else {
                    ggml.dequantizeRow(t.ggmlId(), bytes, want, n);
                }
                t.format().dequantizeRow(blocks, 0, got, 0, n);
                t.format().dequantizeRowRef(blocks, 0, gotRef, 0, n);
                for (int i = 0; i < n; i++) {
                    int w = Float.floatToRawIntBits(want[i]);
                    if (w != Float.floatToRawIntBits(got[i]) || w != Float.floatToRawIntBits(gotRef[i])) {
                        fail(String.format("%s %s rep %d n=%d element %d: ggml %s (0x%08x), jlora %s, jlora ref %s",
                                t, kind, rep, n, i, want[i], w, got[i], gotRef[i]));
                    }
                }
            }
        }
    }

    /** Rows that exercise the quantizers' corner cases next to Gaussian data at several scales. */
    static List<float[]> quantizeInputs(int n, long seed) {
        var rnd = new SplittableRandom(seed);
        List<float[]> rows = new ArrayList<>();
        for (double std : new double[] {1e-3, 0.02, 1, 300}) {
            float[] r = new float[n];
            for (int i = 0; i < n; i++) r[i] = (float) (std * rnd.nextGaussian());
            rows.add(r);
        }
        float[] uniform = new float[n];
        for (int i = 0; i < n; i++) uniform[i] = (float) rnd.nextDouble(-1, 1);
        rows.add(uniform);
        rows.add(new float[n]);                                   // all zero
        float[] constant = new float[n];
        java.util.Arrays.fill(constant, 0.37f);
        rows.add(constant);                                        // max == min
        float[] spike = new float[n];
        for (int i = 0; i < n; i += 97) spike[i] = (i % 2 == 0) ? 5f : -3f;
        rows.add(spike);                                           // mostly zero groups
        float[] positive = new float[n];
        for (int i = 0; i < n; i++) positive[i] = (float) Math.abs(rnd.nextGaussian()) + 0.5f;
        rows.add(positive);                                        // min > 0
        float[] tiny = new float[n];
        for (int i = 0; i < n; i++) tiny[i] = (float) (1e-6 * rnd.nextGaussian());
        rows.add(tiny);                                            // scales in fp16 subnormals
        float[] halves = new float[n];
        for (int i = 0; i < n; i++) halves[i] = (i % 32 == 0) ? 127f : (rnd.nextInt(255) - 127) + 0.5f;
        rows.add(halves);                                          // exact .5 ties for Q8_0's roundf
        return rows;
    }

    @ParameterizedTest
    @EnumSource(value = QuantType.class, names = {"F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
        "Q4_K", "Q5_K", "Q6_K", "Q8_K"})
    void quantizeIsByteIdenticalWithGgmlQuantizeChunk(QuantType t) {
        int nPerRow = 512;
        List<float[]> rows = quantizeInputs(nPerRow, 77 + t.ordinal());
        float[] all = new float[rows.size() * nPerRow];
        for (int r = 0; r < rows.size(); r++) System.arraycopy(rows.get(r), 0, all, r * nPerRow, nPerRow);
        byte[] want = ggml.quantizeChunk(t.ggmlId(), all, rows.size(), nPerRow);
        long rowBytes = t.rowBytes(nPerRow);
        MemorySegment got = MemorySegment.ofArray(new byte[(int) (rowBytes * rows.size())]);
        for (int r = 0; r < rows.size(); r++) {
            t.format().quantizeRowRef(all, r * nPerRow, got, r * rowBytes, nPerRow);
        }
        byte[] g = got.toArray(ValueLayout.JAVA_BYTE);
        for (int i = 0; i < want.length; i++) {
            int row = (int) (i / rowBytes);
            if (t == QuantType.Q8_K && isZeroRowBsums(rows.get(row), i % rowBytes)) {
                continue; // ggml leaves the sums of an all-zero Q8_K block unwritten (uninitialised memory)
            }
            if (want[i] != g[i]) {
                long inRow = i % rowBytes;
                fail(String.format("%s row %d (input kind %d) byte %d (block %d, offset %d): ggml 0x%02x, jlora 0x%02x",
                        t, row, row, inRow, inRow / t.bytesPerBlock(), inRow % t.bytesPerBlock(), want[i], g[i]));
            }
        }
        // The table's own quantize path (parallel, off-heap) gives the same bytes.
        var m = t.quantize(all, rows.size(), nPerRow);
        float[] a = new float[nPerRow], b = new float[nPerRow];
        for (int r = 0; r < rows.size(); r++) {
            m.dequantizeRow(r, a, 0);
            t.format().dequantizeRowRef(got, r * rowBytes, b, 0, nPerRow);
            for (int i = 0; i < nPerRow; i++) assertEquals(Float.floatToRawIntBits(b[i]), Float.floatToRawIntBits(a[i]), t + " row " + r);
        }
    }

    private static boolean isZeroRowBsums(float[] row, long inRow) {
        long inBlock = inRow % 292;
        if (inBlock < 260) return false;
        int block = (int) (inRow / 292);
        for (int i = 0; i < 256; i++) if (row[block * 256 + i] != 0) return false;
        return true;
    }

    @Test
    void badArgumentsAreRefusedBeforeTheCall() {
        var e = assertThrows(IllegalArgumentException.class, () -> ggml.rowSize(12, 100));
        assertTrue(e.getMessage().contains("divisible by 256, got 100"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ggml.blockSize(99));
        assertThrows(IllegalArgumentException.class, () -> ggml.quantizeChunk(16, new float[256], 1, 256));
        assertThrows(IllegalArgumentException.class, () -> ggml.quantizeChunk(2, new float[32], 2, 32));
        assertThrows(IllegalArgumentException.class, () -> ggml.dequantizeRow(2, new byte[17], new float[32], 32));
    }
}
