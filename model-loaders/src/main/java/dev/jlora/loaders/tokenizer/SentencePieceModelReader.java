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
 * Reads a SentencePiece {@code tokenizer.model}: a protobuf {@code ModelProto} (sentencepiece_model.proto).
 * Only what a BPE tokenizer needs is decoded; every other field is skipped by its wire type:
 * <pre>
 * ModelProto      1: repeated SentencePiece pieces   2: TrainerSpec   3: NormalizerSpec
 * SentencePiece   1: string piece   2: float score   3: Type type (NORMAL=1 UNKNOWN=2 CONTROL=3 USER_DEFINED=4 UNUSED=5 BYTE=6)
 * TrainerSpec     3: ModelType model_type (UNIGRAM=1 BPE=2 WORD=3 CHAR=4)   40: unk_id (0)   41: bos_id (1)   42: eos_id (2)
 * NormalizerSpec  3: bool add_dummy_prefix (true)
 * </pre>
 * Protobuf wire format (protobuf.dev "Encoding"): each field is a varint key {@code (number << 3) | wireType},
 * wire types 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. Every length and count is checked against
 * the bytes that remain before use, so a corrupt file fails with a message naming the field and offset.
 */
final class SentencePieceModelReader {
    private static final int MAX_PIECES = 1 << 21;

    private final Path file;
    private final ByteBuffer buf;

    private SentencePieceModelReader(Path file, byte[] data) {
        this.file = file;
        this.buf = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
    }

    static Vocabulary read(Path file) throws IOException {
        long size = Files.size(file);
        if (size > 256L << 20) {
            throw ModelFormatException.of(file, "%,d bytes is too large for a SentencePiece model (at most 256 MiB)", size);
        }
        return parse(file, Files.readAllBytes(file));
    }

    static Vocabulary parse(Path file, byte[] data) throws ModelFormatException {
        return new SentencePieceModelReader(file, data).model();
    }

    private Vocabulary model() throws ModelFormatException {
        List<String> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        List<Integer> types = new ArrayList<>();
        int modelType = 1;  // proto default UNIGRAM
        int unk = 0, bos = 1, eos = 2;
        boolean addDummyPrefix = true;
        int end = buf.limit();
        while (buf.position() < end) {
            int at = buf.position();
            long key = varint("ModelProto", end);
            int field = (int) (key >>> 3), wire = (int) (key & 7);
            if (field == 1 && wire == 2) {
                if (pieces.size() >= MAX_PIECES) {
                    throw ModelFormatException.field(file, "pieces", "more than %,d pieces", MAX_PIECES);
                }
                int len = length("pieces[" + pieces.size() + "]", end);
                piece(pieces.size(), buf.position() + len, pieces, scores, types);
            } else if (field == 2 && wire == 2) {
                int len = length("trainer_spec", end);
                int stop = buf.position() + len;
                while (buf.position() < stop) {
                    long k = varint("trainer_spec", stop);
                    int f = (int) (k >>> 3), w = (int) (k & 7);
                    if (w == 0 && (f == 3 || f == 40 || f == 41 || f == 42)) {
                        int v = (int) varint("trainer_spec." + f, stop);
                        switch (f) {
                            case 3 -> modelType = v;
                            case 40 -> unk = v;
                            case 41 -> bos = v;
                            default -> eos = v;
                        }
                    } else {
                        skip("trainer_spec field " + f, w, stop);
                    }
                }
            } else if (field == 3 && wire == 2) {
                int len = length("normalizer_spec", end);
                int stop = buf.position() + len;
                while (buf.position() < stop) {
                    long k = varint("normalizer_spec", stop);
                    int f = (int) (k >>> 3), w = (int) (k & 7);
                    if (f == 3 && w == 0) {
                        addDummyPrefix = varint("normalizer_spec.add_dummy_prefix", stop) != 0;
                    } else {
                        skip("normalizer_spec field " + f, w, stop);
                    }
                }
            } else {
                if (field == 0) {
                    throw ModelFormatException.field(file, "ModelProto", "field number 0 at byte %,d (not a protobuf file?)", at);
                }
                skip("ModelProto field " + field, wire, end);
            }
        }
        int n = pieces.size();
        if (n == 0) {
            throw ModelFormatException.field(file, "pieces", "the model has no pieces (not a SentencePiece model?)");
        }
        if (modelType != 2) {
            throw ModelFormatException.field(file, "trainer_spec.model_type",
                    "is %s; only BPE (2) models, as llama and mistral use, are supported", modelTypeName(modelType));
        }
        float[] scoreArray = new float[n];
        int[] typeArray = new int[n];
        for (int i = 0; i < n; i++) {
            scoreArray[i] = scores.get(i);
            typeArray[i] = types.get(i);
        }
        return new Vocabulary(Vocabulary.Model.SPM, List.copyOf(pieces), scoreArray, typeArray, List.of(), null,
                checkId("bos_id", bos, n), checkId("eos_id", eos, n), checkId("unk_id", unk, n), -1,
                bos >= 0, false, addDummyPrefix, null, null);
    }

    private int checkId(String name, int id, int n) throws ModelFormatException {
        if (id < -1 || id >= n) {
            throw ModelFormatException.field(file, "trainer_spec." + name, "%d is outside the %d pieces", id, n);
        }
        return id;
    }

    private static String modelTypeName(int t) {
        return switch (t) {
            case 1 -> "UNIGRAM (1)";
            case 3 -> "WORD (3)";
            case 4 -> "CHAR (4)";
            default -> "unknown (" + t + ")";
        };
    }

    private void piece(int id, int stop, List<String> pieces, List<Float> scores, List<Integer> types)
            throws ModelFormatException {
        String name = "pieces[" + id + "]";
        String piece = null;
        float score = 0;
        int type = Vocabulary.NORMAL;
        while (buf.position() < stop) {
            long k = varint(name, stop);
            int f = (int) (k >>> 3), w = (int) (k & 7);
            if (f == 1 && w == 2) {
                int len = length(name + ".piece", stop);
                piece = utf8(name + ".piece", len);
            } else if (f == 2 && w == 5) {
                need(name + ".score", 4, stop);
                score = buf.getFloat();
                if (!Float.isFinite(score)) {
                    throw ModelFormatException.field(file, name + ".score", "is %s, must be finite", score);
                }
            } else if (f == 3 && w == 0) {
                long t = varint(name + ".type", stop);
                if (t < 1 || t > 6) {
                    throw ModelFormatException.field(file, name + ".type", "must be 1..6 (NORMAL..BYTE), got %d", t);
                }
                type = (int) t;
            } else {
                skip(name + " field " + f, w, stop);
            }
        }
        if (piece == null) {
            throw ModelFormatException.field(file, name + ".piece", "is missing");
        }
        pieces.add(piece);
        scores.add(score);
        types.add(type);
    }

    private long varint(String field, int stop) throws ModelFormatException {
        long v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (buf.position() >= stop) {
                throw ModelFormatException.field(file, field, "varint runs past its end at byte %,d (truncated?)", buf.position());
            }
            byte b = buf.get();
            v |= (long) (b & 0x7F) << shift;
            if (b >= 0) {
                return v;
            }
        }
        throw ModelFormatException.field(file, field, "varint longer than 10 bytes at byte %,d", buf.position());
    }

    /** A length prefix, checked to fit in the enclosing message. */
    private int length(String field, int stop) throws ModelFormatException {
        int at = buf.position();
        long len = varint(field, stop);
        if (len < 0 || len > stop - buf.position()) {
            throw ModelFormatException.field(file, field, "length %,d at byte %,d exceeds the %,d bytes left in its message",
                    len, at, stop - buf.position());
        }
        return (int) len;
    }

    private void need(String field, int bytes, int stop) throws ModelFormatException {
        if (stop - buf.position() < bytes) {
            throw ModelFormatException.field(file, field, "needs %d bytes at byte %,d but %d remain in its message",
                    bytes, buf.position(), stop - buf.position());
        }
    }

    private String utf8(String field, int len) throws ModelFormatException {
        ByteBuffer slice = buf.slice(buf.position(), len);
        buf.position(buf.position() + len);
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(slice).toString();
        } catch (CharacterCodingException e) {
            throw ModelFormatException.field(file, field, "is not valid UTF-8");
        }
    }

    private void skip(String field, int wire, int stop) throws ModelFormatException {
        switch (wire) {
            case 0 -> varint(field, stop);
            case 1 -> {
                need(field, 8, stop);
                buf.position(buf.position() + 8);
            }
            case 2 -> {
                int len = length(field, stop);
                buf.position(buf.position() + len);
            }
            case 5 -> {
                need(field, 4, stop);
                buf.position(buf.position() + 4);
            }
            default -> throw ModelFormatException.field(file, field, "unsupported protobuf wire type %d at byte %,d",
                    wire, buf.position());
        }
    }
}
