package dev.jlora.engine.infer;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Turns token bytes into text as they arrive. A character whose UTF-8 bytes are split over several tokens (byte
 * fallback tokens such as {@code <0xE2>}) comes out whole once its last byte is in; malformed bytes become U+FFFD.
 */
public final class Utf8Stream {
    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE)
            .onUnmappableCharacter(CodingErrorAction.REPLACE);
    private ByteBuffer in = ByteBuffer.allocate(64);
    private CharBuffer out = CharBuffer.allocate(64);

    /** The text completed by {@code bytes}; bytes of an unfinished character are kept for the next call. */
    public String push(byte[] bytes) {
        if (in.remaining() < bytes.length) {
            ByteBuffer bigger = ByteBuffer.allocate(Math.max(2 * in.capacity(), in.position() + bytes.length));
            in.flip();
            bigger.put(in);
            in = bigger;
        }
        in.put(bytes);
        return drain(false);
    }

    /** The text of whatever is left (an unfinished character becomes U+FFFD); the stream starts over. */
    public String finish() {
        String s = drain(true);
        decoder.reset();
        in.clear();
        return s;
    }

    private String drain(boolean end) {
        in.flip();
        out.clear();
        while (true) {
            CoderResult r = decoder.decode(in, out, end);
            if (r.isOverflow()) {
                grow();
                continue;
            }
            if (end) {
                while (decoder.flush(out).isOverflow()) {
                    grow();
                }
            }
            break;
        }
        in.compact();
        out.flip();
        return out.toString();
    }

    private void grow() {
        CharBuffer bigger = CharBuffer.allocate(2 * out.capacity());
        out.flip();
        bigger.put(out);
        out = bigger;
    }
}
