package dev.jlora.loaders.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.io.ModelFormatException;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Corrupt and hostile GGUF files: each must give a clear ModelFormatException, never OOM, hang or crash. */
class GgufHostileTest {

    @TempDir
    Path dir;

    /** Little-endian raw bytes, to write headers no honest writer would. */
    static final class Raw {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Raw u32(long v) {
            for (int i = 0; i < 4; i++) {
                out.write((int) (v >>> (8 * i)));
            }
            return this;
        }

        Raw u64(long v) {
            for (int i = 0; i < 8; i++) {
                out.write((int) (v >>> (8 * i)));
            }
            return this;
        }

        Raw u8(int v) {
            out.write(v);
            return this;
        }

        Raw str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            out.writeBytes(b);
            return this;
        }

        Raw header(long nTensors, long nKv) {
            return u32(GgufReader.MAGIC).u32(3).u64(nTensors).u64(nKv);
        }

        /** A tensor info: name, dims, ggml type, offset. */
        Raw tensor(String name, int type, long offset, long... dims) {
            str(name).u32(dims.length);
            for (long d : dims) {
                u64(d);
            }
            return u32(type).u64(offset);
        }

        Raw pad(int alignment) {
            while (out.size() % alignment != 0) {
                out.write(0);
            }
            return this;
        }

        Raw zeros(int n) {
            out.writeBytes(new byte[n]);
            return this;
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }

    private String error(byte[] content) throws Exception {
        Path p = dir.resolve("bad.gguf");
        Files.write(p, content);
        var e = assertThrows(ModelFormatException.class, () -> GgufReader.open(p).close());
        assertTrue(e.getMessage().startsWith("bad.gguf: "), e.getMessage());
        return e.getMessage();
    }

    private void expect(byte[] content, String expected) throws Exception {
        String msg = error(content);
        assertTrue(msg.contains(expected), () -> "message '" + msg + "' should contain '" + expected + "'");
    }

    @Test
    void truncatedStoriesFailsClearlyAtEveryCut() throws Exception {
        byte[] full = Files.readAllBytes(GgufReaderTest.stories());
        // Every cut inside the 14,176-byte header (stride 73 hits strings, counts and tensor infos at varying
        // phases), plus cuts inside the data section.
        int cuts = 0;
        for (int cut = 0; cut < 14_200; cut += 73) {
            String msg = error(Arrays.copyOf(full, cut));
            assertTrue(msg.contains("truncated") || msg.contains("too small") || msg.contains("past the end")
                    || msg.contains("only"), "cut at " + cut + ": " + msg);
            cuts++;
        }
        for (int cut : new int[] {14_177, 500_000, full.length - 1}) {
            expect(Arrays.copyOf(full, cut), "but the file has " + String.format("%,d", cut) + " bytes (truncated download?)");
            cuts++;
        }
        assertTrue(cuts > 190);
        expect(Arrays.copyOf(full, 600_000), "tensor 'blk.1.ffn_up.weight': data ends at byte 639,840");
    }

    @Test
    void badMagicAndVersions() throws Exception {
        expect("PK\u0003\u0004 this is a zip file, not gguf".getBytes(StandardCharsets.ISO_8859_1),
                "not a GGUF file: magic is 'PK\\x03\\x04', expected 'GGUF'");
        expect(new Raw().u32(GgufReader.MAGIC).u32(1).u64(0).u64(0).bytes(), "GGUF v1 (32-bit counts) is not supported");
        expect(new Raw().u32(GgufReader.MAGIC).u32(7).u64(0).u64(0).bytes(), "unsupported GGUF version 7 (expected 2 or 3)");
        expect(new Raw().u32(GgufReader.MAGIC).u32(3L << 24).u64(0).u64(0).bytes(), "big-endian GGUF");
        expect(new Raw().u32(GgufReader.MAGIC).bytes(), "too small for a GGUF header");
    }

    @Test
    void hugeCountsAndLengthsAreRejectedBeforeAllocating() throws Exception {
        expect(new Raw().header(1L << 62, 0).bytes(), "count of tensors is 4611686018427387904, more than the limit");
        expect(new Raw().header(1000, 0).bytes(), "count of tensors is 1,000, but only 0 bytes remain");
        expect(new Raw().header(0, -1L).bytes(), "count of metadata entries is 18446744073709551615");
        expect(new Raw().header(0, 1).u64(-2L).zeros(16).bytes(),
                "metadata entry #0: string of 18446744073709551614 bytes at offset 24 runs past the end");
        expect(new Raw().header(0, 1).u64(1L << 40).zeros(16).bytes(), "string of 1099511627776 bytes");
        // An array claiming 2^40 UINT8 elements in a file of a few bytes.
        expect(new Raw().header(0, 1).str("k").u32(GgufType.ARRAY.id()).u32(GgufType.UINT8.id()).u64(1L << 40).bytes(),
                "metadata 'k': count of UINT8 array elements is 1099511627776, more than the limit of 16,777,216");
        expect(new Raw().header(0, 1).str("k").u32(GgufType.ARRAY.id()).u32(GgufType.FLOAT32.id()).u64(1000).zeros(12).bytes(),
                "metadata 'k': count of FLOAT32 array elements is 1,000, but only 12 bytes remain");
        expect(new Raw().header(0, 1).str("k").u32(GgufType.ARRAY.id()).u32(GgufType.STRING.id()).u64(100).zeros(40).bytes(),
                "count of STRING array elements is 100, but only 40 bytes remain in the file (at least 8 per element)");
        // Arrays nested 100 deep: refused at depth 8, no stack overflow.
        Raw deep = new Raw().header(0, 1).str("k").u32(GgufType.ARRAY.id());
        for (int i = 0; i < 100; i++) {
            deep.u32(GgufType.ARRAY.id()).u64(1);
        }
        expect(deep.zeros(64).bytes(), "metadata 'k': arrays nested deeper than 8");
    }

    @Test
    void badMetadataValues() throws Exception {
        expect(new Raw().header(0, 1).str("k").u32(13).zeros(8).bytes(), "metadata 'k': unknown metadata value type 13");
        expect(new Raw().header(0, 1).str("k").u32(GgufType.BOOL.id()).u8(7).bytes(), "BOOL value is 7, expected 0 or 1");
        expect(new Raw().header(0, 2).str("k").u32(GgufType.UINT8.id()).u8(1).str("k").u32(GgufType.UINT8.id()).u8(2).bytes(),
                "metadata 'k': duplicate metadata key");
        expect(new Raw().header(0, 1).str("general.alignment").u32(GgufType.UINT32.id()).u32(48).bytes(),
                "metadata 'general.alignment': must be a power of two, got 48");
        expect(new Raw().header(0, 1).str("general.alignment").u32(GgufType.STRING.id()).str("32").bytes(),
                "metadata 'general.alignment': must be UINT32 but is STRING");
    }

    @Test
    void badTensorInfos() throws Exception {
        expect(tensorFile(new Raw().header(1, 0).tensor("t", 99, 0, 4)),
                "tensor 't': has ggml type id 99 (unknown to ggml), which jlora does not support");
        expect(tensorFile(new Raw().header(1, 0).tensor("t", 10, 0, 256)),
                "tensor 't': has ggml type Q2_K (id 10), which jlora does not support (supported: F32, F16, Q4_0");
        expect(tensorFile(new Raw().header(1, 0).tensor("t", 2, 0, 33, 2)),
                "tensor 't': type Q4_0 needs a row length divisible by 32, got 33 (shape [33, 2])");
        expect(tensorFile(new Raw().header(1, 0).tensor("t", 0, 0, 1, 1, 1, 1, 1)),
                "tensor 't': has 5 dimensions, expected 1 to 4");
        expect(tensorFile(new Raw().header(1, 0).tensor("t", 0, 0)), "tensor 't': has 0 dimensions");
        expect(tensorFile(new Raw().header(1, 0).tensor("t", 0, 0, 1L << 40, 1L << 40)),
                "tensor 't': shape [1099511627776, 1099511627776] of type F32 overflows 64-bit byte size");
        expect(tensorFile(new Raw().header(1, 0).tensor("t", 0, 0, -1L)), "dimension 0 is 18446744073709551615");
        expect(tensorFile(new Raw().header(1, 0).tensor("t", 0, 16, 4)),
                "tensor 't': data offset 16 is not a multiple of general.alignment 32");
        expect(tensorFile(new Raw().header(1, 0).tensor("t", 0, 1L << 50, 4)),
                "tensor 't': data ends at byte 1,125,899,906,842,704 but the file has 128 bytes (truncated download?)");
        expect(tensorFile(new Raw().header(1, 0).tensor("t", 0, 0, 1L << 40)),
                "tensor 't': data ends at byte 4,398,046,511,168 but the file has 128 bytes");
        expect(tensorFile(new Raw().header(2, 0).tensor("t", 0, 0, 4).tensor("t", 0, 32, 4)),
                "tensor 't': duplicate tensor name");
        expect(tensorFile(new Raw().header(2, 0).tensor("a", 0, 0, 16).tensor("b", 0, 32, 4)),
                "tensor 'b': data at offset 32 overlaps tensor 'a' (offset 0, 64 bytes)");
    }

    /** Pads the header and appends 64 bytes of data. */
    private static byte[] tensorFile(Raw r) {
        return r.pad(32).zeros(64).bytes();
    }

    @Test
    void validHandmadeFileStillReads() throws Exception {
        Path p = dir.resolve("ok.gguf");
        Files.write(p, tensorFile(new Raw().header(2, 1).str("general.architecture").u32(GgufType.STRING.id()).str("llama")
                .tensor("a", 0, 0, 8).tensor("b", 0, 32, 4, 2)));
        try (GgufFile f = GgufReader.open(p)) {
            assertEquals("llama", f.getString("general.architecture"));
            assertEquals(2, f.tensors().size());
            assertEquals(32, f.tensorData("b").byteSize());
        }
    }
}
