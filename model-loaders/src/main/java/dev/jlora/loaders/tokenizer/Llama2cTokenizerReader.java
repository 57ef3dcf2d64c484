package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.io.ModelFormatException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads llama2.c's binary tokenizer ({@code tokenizer.bin}, {@code tok512.bin}, written by llama2.c's
 * {@code tokenizer.py export}): little-endian int32 {@code max_token_length}, then per token a float32
 * score, an int32 byte length and the UTF-8 bytes. The file does not store the vocabulary size, so tokens
 * run to the end of the file.
 *
 * <p>The export rewrote SentencePiece's pieces, and this reader undoes it so the vocabulary equals the
 * one in the model's GGUF or {@code tokenizer.model}: spaces back to {@code ▁}, BOS/EOS from
 * {@code "\n<s>\n"}/{@code "\n</s>\n"} back to {@code <s>}/{@code </s>}. Token types are not stored, so they
 * are inferred the way SentencePiece assigns them for llama: id 0 {@code <unk>} UNKNOWN, BOS/EOS CONTROL,
 * {@code <0xNN>} BYTE, the rest NORMAL.
 */
final class Llama2cTokenizerReader {
    /** More tokens than this is not a tokenizer (llama2.c vocabularies have 512 to 32000). */
    static final int MAX_TOKENS = 1 << 21;

    private Llama2cTokenizerReader() {
    }

    static Vocabulary read(Path file) throws IOException {
        long size = Files.size(file);
        if (size > 256L << 20) {
            throw ModelFormatException.of(file, "%,d bytes is too large for a llama2.c tokenizer (at most 256 MiB)", size);
        }
        return parse(file, Files.readAllBytes(file));
    }

    static Vocabulary parse(Path file, byte[] data) throws ModelFormatException {
        ByteBuffer in = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        if (in.remaining() < 4) {
            throw ModelFormatException.field(file, "max_token_length", "file has %d bytes, needs at least 4", data.length);
        }
        int maxLen = in.getInt();
        if (maxLen <= 0 || maxLen > 1 << 16) {
            throw ModelFormatException.field(file, "max_token_length", "must be in 1..65536, got %d", maxLen);
        }
        var decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        List<String> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        while (in.hasRemaining()) {
            int id = pieces.size();
            int at = in.position();
            if (id >= MAX_TOKENS) {
                throw ModelFormatException.of(file, "more than %,d tokens", MAX_TOKENS);
            }
            if (in.remaining() < 8) {
                throw ModelFormatException.field(file, "token " + id, "header at byte %,d needs 8 bytes but %d remain (truncated?)",
                        at, in.remaining());
            }
            float score = in.getFloat();
            int len = in.getInt();
            if (len < 0 || len > maxLen) {
                throw ModelFormatException.field(file, "token " + id, "length %d at byte %,d is outside 0..max_token_length %d",
                        len, at + 4, maxLen);
            }
            if (len > in.remaining()) {
                throw ModelFormatException.field(file, "token " + id, "needs %d bytes at byte %,d but %d remain (truncated?)",
                        len, in.position(), in.remaining());
            }
            if (!Float.isFinite(score)) {
                throw ModelFormatException.field(file, "token " + id, "score is %s, must be finite", score);
            }
            ByteBuffer text = in.slice(in.position(), len);
            in.position(in.position() + len);
            String piece;
            try {
                piece = decoder.decode(text).toString();
            } catch (CharacterCodingException e) {
                throw ModelFormatException.field(file, "token " + id, "text is not valid UTF-8");
            }
            pieces.add(piece);
            scores.add(score);
        }
        int n = pieces.size();
        if (n < 3) {
            throw ModelFormatException.of(file, "has %d tokens; a llama2.c vocabulary needs at least <unk>, <s>, </s>", n);
        }
        float[] scoreArray = new float[n];
        int[] types = new int[n];
        for (int i = 0; i < n; i++) {
            scoreArray[i] = scores.get(i);
            String p = pieces.get(i);
            if (i == 1 && p.equals("\n<s>\n")) {
                p = "<s>";
            } else if (i == 2 && p.equals("\n</s>\n")) {
                p = "</s>";
            } else {
                p = p.replace(' ', '\u2581');
            }
            pieces.set(i, p);
            types[i] = i == 0 ? Vocabulary.UNKNOWN
                    : i <= 2 ? Vocabulary.CONTROL
                    : VocabularyTokenizer.byteOfPiece(p) >= 0 ? Vocabulary.BYTE : Vocabulary.NORMAL;
        }
        // llama2.c: BOS = 1, EOS = 2, and its encoder prepends a space to the text (add_dummy_prefix).
        return new Vocabulary(Vocabulary.Model.SPM, List.copyOf(pieces), scoreArray, types, List.of(), null,
                1, 2, 0, -1, true, false, true, null, null);
    }
}
