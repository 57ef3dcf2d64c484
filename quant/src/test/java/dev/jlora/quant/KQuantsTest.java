package dev.jlora.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The word-wise unpacking of Q4_K/Q5_K scales and mins against ggml's per-byte {@code get_scale_min_k4} port. */
class KQuantsTest {

    @Test
    void scalesAndMinsUnpackedAtOnceEqualGetScaleMinK4() {
        var rnd = new SplittableRandom(12);
        byte[] bytes = new byte[12 * 1002];
        rnd.nextBytes(bytes);
        // boundary groups: every bit set (all 6-bit values 63), and none
        for (int i = 0; i < 12; i++) {
            bytes[i] = (byte) 0xFF;
            bytes[12 + i] = 0;
        }
        MemorySegment s = MemorySegment.ofArray(bytes);
        for (long off = 0; off < bytes.length; off += 12) {
            long scales = KQuants.scalesK4(s, off), mins = KQuants.minsK4(s, off);
            for (int j = 0; j < 8; j++) {
                // exact: both are integer bit manipulations of the same bytes
                assertEquals(KQuants.scaleK4(s, off, j), KQuants.byteAt(scales, j), "scale " + j + " of the group at byte " + off);
                assertEquals(KQuants.minK4(s, off, j), KQuants.byteAt(mins, j), "min " + j + " of the group at byte " + off);
            }
        }
    }
}
