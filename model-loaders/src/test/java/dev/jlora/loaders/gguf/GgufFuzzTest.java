package dev.jlora.loaders.gguf;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.jlora.engine.io.ModelFormatException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Random corruption of stories260K.gguf's header (byte flips, overwritten counts and lengths): every file either
 * opens (with all its tensors inside the file) or fails with a ModelFormatException, never with another exception,
 * an OutOfMemoryError or a hang.
 */
class GgufFuzzTest {

    @Test
    void corruptedHeadersOpenOrFailCleanly(@TempDir Path dir) throws Exception {
        byte[] orig = Files.readAllBytes(GgufReaderTest.stories());
        // Only the header is mutated; the data section is kept so that valid variants still map.
        int headerEnd = 14_176;
        long seed = 2026;
        var rnd = new SplittableRandom(seed);
        Path p = dir.resolve("fuzz.gguf");
        int opened = 0;
        int rejected = 0;
        for (int iter = 0; iter < 120; iter++) {
            byte[] b = orig.clone();
            int edits = 1 + rnd.nextInt(4);
            for (int e = 0; e < edits; e++) {
                int at = rnd.nextInt(headerEnd);
                switch (rnd.nextInt(3)) {
                    case 0 -> b[at] ^= (byte) (1 << rnd.nextInt(8));
                    case 1 -> b[at] = (byte) rnd.nextInt(256);
                    default -> { // a plausible-looking huge 64-bit count or length
                        long v = rnd.nextLong() >>> rnd.nextInt(64);
                        for (int k = 0; k < 8 && at + k < headerEnd; k++) {
                            b[at + k] = (byte) (v >>> (8 * k));
                        }
                    }
                }
            }
            Files.write(p, b);
            try (GgufFile f = GgufReader.open(p)) {
                for (GgufTensorInfo t : f.tensors()) {
                    assertTrue(f.dataOffset() + t.offset() + t.byteSize() <= f.fileSize(), t.name());
                }
                opened++;
            } catch (ModelFormatException expected) {
                assertTrue(expected.getMessage().startsWith("fuzz.gguf: "), expected.getMessage());
                rejected++;
            } catch (Throwable t) {
                fail("iteration " + iter + " (seed " + seed + "): " + t + " instead of a ModelFormatException; edits at "
                        + Arrays.toString(diff(orig, b)), t);
            }
        }
        assertTrue(rejected > 20, "most corruptions must be caught: " + rejected + " rejected, " + opened + " opened");
    }

    private static int[] diff(byte[] a, byte[] b) {
        return java.util.stream.IntStream.range(0, a.length).filter(i -> a[i] != b[i]).limit(16).toArray();
    }
}
