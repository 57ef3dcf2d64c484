package dev.jlora.engine.infer.ref;

import dev.jlora.engine.tokenizer.ChatTemplate;
import dev.jlora.engine.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A 37-token vocabulary for generation tests: 0 = EOS (no bytes), 1 = BOS (no bytes), 2..27 = 'a'..'z',
 * 28 = ' ', 29..31 = the three UTF-8 bytes of '€' (E2 82 AC, as byte-fallback tokens), 32..36 = '<', '/', '>', '\n', '!'.
 */
public final class ByteTokenizer implements Tokenizer {
    static final byte[][] BYTES = new byte[37][];
    static {
        BYTES[0] = new byte[0];
        BYTES[1] = new byte[0];
        for (int i = 0; i < 26; i++) BYTES[2 + i] = new byte[] {(byte) ('a' + i)};
        BYTES[28] = new byte[] {' '};
        BYTES[29] = new byte[] {(byte) 0xE2};
        BYTES[30] = new byte[] {(byte) 0x82};
        BYTES[31] = new byte[] {(byte) 0xAC};
        BYTES[32] = new byte[] {'<'};
        BYTES[33] = new byte[] {'/'};
        BYTES[34] = new byte[] {'>'};
        BYTES[35] = new byte[] {'\n'};
        BYTES[36] = new byte[] {'!'};
    }

    @Override public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        throw new UnsupportedOperationException("ByteTokenizer only decodes");
    }
    @Override public byte[] tokenBytes(int id) { return BYTES[id].clone(); }
    @Override public String decode(int[] ids) {
        var out = new ByteArrayOutputStream();
        for (int id : ids) out.writeBytes(BYTES[id]);
        return out.toString(StandardCharsets.UTF_8);
    }
    @Override public int vocabSize() { return 37; }
    @Override public int bos() { return 1; }
    @Override public int eos() { return 0; }
    @Override public boolean isEndOfGeneration(int id) { return id == 0; }
    @Override public ChatTemplate chatTemplate() { throw new UnsupportedOperationException("no chat template"); }
}
