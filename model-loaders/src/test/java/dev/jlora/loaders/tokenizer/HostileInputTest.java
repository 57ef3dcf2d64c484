package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.io.ModelFormatException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Corrupt tokenizer files fail with a ModelFormatException that names the file and the field, never OOM or a crash. */
class HostileInputTest {
    private static final Path SPM = Path.of("tokenizer.model");
    private static final Path BIN = Path.of("tokenizer.bin");

    private static void assertMessage(Exception e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), () -> "message '" + e.getMessage() + "' lacks '" + p + "'");
        }
    }

    /**
     * Found by TokenizerJsonFuzzTest (its crash input is kept in the fuzz module): a SentencePiece-style tokenizer.json
     * without byte pieces or an unknown token loaded, then failed on the first character outside its vocabulary.
     * It is now rejected at load.
     */
    @Test
    void sentencePieceVocabularyThatCannotEncodeEveryTextIsRejectedAtLoad() throws IOException {
        Path f = Files.createTempFile("spm-no-bytes", ".json");
        try {
            Files.writeString(f, """
                    {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
                     "pre_tokenizer": null, "added_tokens": []}""");
            var e = assertThrows(ModelFormatException.class, () -> Tokenizers.fromHfTokenizerJson(f));
            assertMessage(e, f.getFileName().toString(), "no <0x00> byte piece and no unknown token");
        } finally {
            Files.deleteIfExists(f);
        }
    }

    @Test
    void protobufLengthBeyondTheFile() {
        // field 1 (pieces), wire type 2, length 2^31: must be rejected before any allocation.
        byte[] data = {0x0A, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, 0x08, 0x01};
        var e = assertThrows(ModelFormatException.class, () -> SentencePieceModelReader.parse(SPM, data));
        assertMessage(e, "tokenizer.model", "pieces[0]", "exceeds");
    }

    @Test
    void protobufTruncatedVarint() {
        var e = assertThrows(ModelFormatException.class, () -> SentencePieceModelReader.parse(SPM, new byte[] {(byte) 0x80}));
        assertMessage(e, "tokenizer.model", "varint");
    }

    @Test
    void protobufOverlongVarint() {
        byte[] data = new byte[12];
        Arrays.fill(data, (byte) 0xFF);
        var e = assertThrows(ModelFormatException.class, () -> SentencePieceModelReader.parse(SPM, data));
        assertMessage(e, "varint longer than 10 bytes");
    }

    @Test
    void protobufWithoutPiecesAndUnigramModels() throws IOException {
        var e = assertThrows(ModelFormatException.class, () -> SentencePieceModelReader.parse(SPM, new byte[0]));
        assertMessage(e, "tokenizer.model", "pieces", "no pieces");
        // one piece "a" and trainer_spec.model_type = UNIGRAM (1)
        byte[] unigram = {0x0A, 0x03, 0x0A, 0x01, 'a', 0x12, 0x02, 0x18, 0x01};
        e = assertThrows(ModelFormatException.class, () -> SentencePieceModelReader.parse(SPM, unigram));
        assertMessage(e, "trainer_spec.model_type", "UNIGRAM");
    }

    @Test
    void protobufBadPieceType() {
        byte[] data = {0x0A, 0x05, 0x0A, 0x01, 'a', 0x18, 0x09};
        var e = assertThrows(ModelFormatException.class, () -> SentencePieceModelReader.parse(SPM, data));
        assertMessage(e, "pieces[0].type", "got 9");
    }

    /** Random corruption of the real Llama 2 model: every outcome is a vocabulary or a ModelFormatException. */
    @Test
    void randomlyCorruptedModelNeverCrashes() throws IOException {
        byte[] good = Files.readAllBytes(TokenizerFixtures.MODELS.resolve("llama2-tokenizer.model"));
        SplittableRandom rnd = new SplittableRandom(42);
        int failures = 0;
        for (int trial = 0; trial < 40; trial++) {
            byte[] bad = good.clone();
            for (int k = 0; k < 8; k++) {
                bad[rnd.nextInt(4096)] = (byte) rnd.nextInt(256);  // the first pieces and their length prefixes
            }
            int cut = trial % 4 == 0 ? rnd.nextInt(bad.length) : bad.length;
            try {
                SentencePieceModelReader.parse(SPM, Arrays.copyOf(bad, cut));
            } catch (ModelFormatException e) {
                failures++;
                assertTrue(e.getMessage().startsWith("tokenizer.model: "), "seed 42 trial " + trial + ": " + e.getMessage());
            }
        }
        assertTrue(failures > 0, "seed 42: corruption was detected at least once");
    }

    private static byte[] bin(int maxLen, Object... tokens) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        out.writeBytes(b.putInt(0, maxLen).array());
        for (int i = 0; i < tokens.length; i += 2) {
            byte[] text = ((String) tokens[i]).getBytes(java.nio.charset.StandardCharsets.UTF_8);
            ByteBuffer h = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            h.putFloat(((Number) tokens[i + 1]).floatValue()).putInt(text.length);
            out.writeBytes(h.array());
            out.writeBytes(text);
        }
        return out.toByteArray();
    }

    @Test
    void binTokenLongerThanMaxLength() {
        byte[] data = bin(3, "<unk>", 0, "<s>", 0, "</s>", 0);
        var e = assertThrows(ModelFormatException.class, () -> Llama2cTokenizerReader.parse(BIN, data));
        assertMessage(e, "tokenizer.bin", "token 0", "max_token_length 3");
    }

    @Test
    void binTruncatedAndNegativeLengths() {
        byte[] good = bin(8, "<unk>", 0, "\n<s>\n", 0, "\n</s>\n", 0, " a", -1);
        var e = assertThrows(ModelFormatException.class,
                () -> Llama2cTokenizerReader.parse(BIN, Arrays.copyOf(good, good.length - 1)));
        assertMessage(e, "token 3", "truncated");
        byte[] negative = good.clone();
        ByteBuffer.wrap(negative).order(ByteOrder.LITTLE_ENDIAN).putInt(4 + 4, -5);
        e = assertThrows(ModelFormatException.class, () -> Llama2cTokenizerReader.parse(BIN, negative));
        assertMessage(e, "token 0", "length -5");
        e = assertThrows(ModelFormatException.class, () -> Llama2cTokenizerReader.parse(BIN, new byte[] {1, 0}));
        assertMessage(e, "max_token_length");
    }

    @Test
    void binSmallVocabularyWorks() throws IOException {
        Vocabulary v = Llama2cTokenizerReader.parse(BIN, bin(8, "<unk>", 0, "\n<s>\n", 0, "\n</s>\n", 0, " a", -1, "<0x0A>", 0));
        assertEquals(java.util.List.of("<unk>", "<s>", "</s>", "\u2581a", "<0x0A>"), v.pieces());
        assertEquals(Vocabulary.BYTE, v.tokenTypes()[4]);
        var tok = Tokenizers.fromVocabulary(v);
        assertEquals(java.util.List.of(1, 3, 4), Arrays.stream(tok.encode("a\n", true, false)).boxed().toList());
    }

    @Test
    void ggufMetadataOfTheWrongTypeNamesTheKey() {
        var md = new java.util.HashMap<String, Object>();
        md.put("tokenizer.ggml.model", "llama");
        md.put("tokenizer.ggml.tokens", 42L);
        var e = assertThrows(ModelFormatException.class, () -> Tokenizers.fromGgufMetadata(Path.of("m.gguf"), md::get));
        assertMessage(e, "m.gguf", "tokenizer.ggml.tokens", "array of STRING");
        md.put("tokenizer.ggml.tokens", java.util.List.of("<unk>", "<s>", "</s>"));
        md.put("tokenizer.ggml.scores", java.util.List.of(0.0));
        e = assertThrows(ModelFormatException.class, () -> Tokenizers.fromGgufMetadata(Path.of("m.gguf"), md::get));
        assertMessage(e, "tokenizer.ggml.scores", "1 values for 3 tokens");
        md.remove("tokenizer.ggml.scores");
        md.put("tokenizer.ggml.model", "bert");
        var u = assertThrows(UnsupportedOperationException.class, () -> Tokenizers.fromGgufMetadata(Path.of("m.gguf"), md::get));
        assertMessage(u, "'bert'");
    }
}
