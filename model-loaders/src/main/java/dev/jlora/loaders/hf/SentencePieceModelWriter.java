package dev.jlora.loaders.hf;

import dev.jlora.loaders.io.AtomicFile;
import dev.jlora.loaders.tokenizer.Vocabulary;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Writes a SentencePiece-BPE vocabulary as {@code tokenizer.model} (sentencepiece {@code sentencepiece_model.proto}:
 * {@code ModelProto} with {@code pieces} (1: piece, 2: score, 3: type), {@code trainer_spec} (3: model_type = BPE,
 * 40–42: unk/bos/eos ids) and {@code normalizer_spec} (3: add_dummy_prefix)), so a Hugging Face directory exported
 * from a GGUF model carries its tokenizer. Only the fields a SentencePiece-BPE encoder needs are written.
 */
public final class SentencePieceModelWriter {

    private SentencePieceModelWriter() {}

    /** Writes {@code vocab} (model SPM) to {@code file} atomically. */
    public static void write(Vocabulary vocab, Path file) throws IOException {
        if (vocab.model() != Vocabulary.Model.SPM) {
            throw new UnsupportedOperationException("tokenizer.model holds SentencePiece vocabularies only; this one is "
                    + vocab.model() + " (byte-level BPE vocabularies are written as tokenizer.json by HfTokenizerWriter)");
        }
        AtomicFile.writeBytes(file, encode(vocab));
    }

    static byte[] encode(Vocabulary v) {
        Proto model = new Proto();
        for (int i = 0; i < v.size(); i++) {
            Proto p = new Proto();
            p.bytes(1, v.pieces().get(i).getBytes(StandardCharsets.UTF_8));
            p.fixed32(2, Float.floatToRawIntBits(v.scores()[i]));
            int type = v.tokenTypes()[i];
            p.varint(3, type >= 1 && type <= 6 ? type : Vocabulary.NORMAL);
            model.bytes(1, p.toByteArray());
        }
        Proto trainer = new Proto();
        trainer.varint(3, 2); // model_type: BPE
        trainer.varint(40, v.unk());
        trainer.varint(41, v.bos());
        trainer.varint(42, v.eos());
        model.bytes(2, trainer.toByteArray());
        Proto normalizer = new Proto();
        normalizer.varint(3, v.addSpacePrefix() ? 1 : 0);
        model.bytes(3, normalizer.toByteArray());
        return model.toByteArray();
    }

    /** Protobuf wire format (protobuf.dev "Encoding"): varint keys (field << 3 | wire type). */
    private static final class Proto extends ByteArrayOutputStream {
        void rawVarint(long v) {
            while ((v & ~0x7FL) != 0) {
                write((int) (v & 0x7F) | 0x80);
                v >>>= 7;
            }
            write((int) v);
        }

        /** int32 fields: negative values are sign-extended to 64 bits, as protobuf does. */
        void varint(int field, int value) {
            rawVarint((long) field << 3);
            rawVarint(value);
        }

        void fixed32(int field, int bits) {
            rawVarint((long) field << 3 | 5);
            for (int i = 0; i < 4; i++) {
                write(bits >>> (8 * i));
            }
        }

        void bytes(int field, byte[] b) {
            rawVarint((long) field << 3 | 2);
            rawVarint(b.length);
            write(b, 0, b.length);
        }
    }
}
