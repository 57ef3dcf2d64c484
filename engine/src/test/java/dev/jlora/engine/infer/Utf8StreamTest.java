package dev.jlora.engine.infer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class Utf8StreamTest {
    static byte[] b(int... v) {
        byte[] a = new byte[v.length];
        for (int i = 0; i < v.length; i++) a[i] = (byte) v[i];
        return a;
    }

    @Test
    void characterSplitOverByteFallbackTokensComesOutWhole() {
        var s = new Utf8Stream();
        assertEquals(" a", s.push(b(' ', 'a')));
        assertEquals("", s.push(b(0xF0)));             // 😀 = F0 9F 98 80
        assertEquals("", s.push(b(0x9F, 0x98)));
        assertEquals("😀!", s.push(b(0x80, '!')));
        assertEquals("", s.push(b(0xE2, 0x82)));        // € = E2 82 AC
        assertEquals("€", s.push(b(0xAC)));
        assertEquals("", s.finish());
    }

    @Test
    void malformedBytesBecomeReplacementCharacters() {
        var s = new Utf8Stream();
        assertEquals("\uFFFDx", s.push(b(0x80, 'x')));  // stray continuation byte
        assertEquals("\uFFFDy", s.push(b(0xE2, 'y')));  // lead byte cut off by ASCII
        assertEquals("", s.push(b(0xE2, 0x82)));
        assertEquals("\uFFFD", s.finish());             // unfinished at the end
        assertEquals("ok", s.push(b('o', 'k')));        // starts over after finish
    }

    @Test
    void longPiecesGrowTheBuffers() {
        var s = new Utf8Stream();
        String big = "ä".repeat(1000);
        assertEquals(big, s.push(big.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    }
}
