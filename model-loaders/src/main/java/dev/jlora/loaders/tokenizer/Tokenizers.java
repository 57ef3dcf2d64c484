package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.tokenizer.ChatTemplate;
import dev.jlora.engine.tokenizer.Tokenizer;
import dev.jlora.loaders.gguf.GgufFile;
import dev.jlora.loaders.gguf.GgufReader;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Function;

/**
 * Builds {@link Tokenizer}s from the files llama-family models ship with. Every tokenizer is byte-exact with
 * llama.cpp's for the same vocabulary (its {@code test-tokenizer-0} cases are the tests). Malformed files
 * raise {@link ModelFormatException} naming the file and field; tokenizer kinds that are not implemented
 * (Unigram, WordPiece, unknown pre-tokenizers) raise {@link UnsupportedOperationException} naming them.
 */
public final class Tokenizers {
    private Tokenizers() {
    }

    /** The tokenizer for a vocabulary, with the chat template its metadata names (or one chosen by its tokens). */
    public static Tokenizer fromVocabulary(Vocabulary vocab) {
        ChatTemplate template = ChatTemplates.forVocabulary(vocab);
        return switch (vocab.model()) {
            case SPM -> new SentencePieceTokenizer(vocab, template);
            case BPE -> {
                BpePreTokenizer pre = BpePreTokenizer.forName(vocab.preTokenizer());
                if (pre == null) {
                    throw new UnsupportedOperationException("byte-level BPE pre-tokenizer '" + vocab.preTokenizer()
                            + "' is not implemented (supported: gpt-2, llama-bpe/llama3, qwen2 families)");
                }
                yield new ByteLevelBpeTokenizer(vocab, pre, template);
            }
        };
    }

    /**
     * From GGUF tokenizer metadata ({@code tokenizer.ggml.*}, {@code tokenizer.chat_template}); {@code metadata}
     * maps a key to its value (String, Number, Boolean, List or primitive array) or null when absent.
     * {@code file} is only used in error messages.
     */
    public static Tokenizer fromGgufMetadata(Path file, Function<String, Object> metadata) throws ModelFormatException {
        return fromVocabulary(file, GgufTokenizerMetadata.vocabulary(file, metadata));
    }

    /**
     * {@link #fromVocabulary} for a vocabulary read from {@code file}, rejecting one that cannot encode every text: a
     * SentencePiece vocabulary needs the 256 byte pieces or an unknown token for characters outside it.
     */
    private static Tokenizer fromVocabulary(Path file, Vocabulary vocab) throws ModelFormatException {
        Tokenizer t = fromVocabulary(vocab);
        if (t instanceof SentencePieceTokenizer spm && spm.firstUnencodableByte() >= 0) {
            throw ModelFormatException.of(file, "SentencePiece vocabulary has no <0x%02X> byte piece and no unknown "
                    + "token, so text with characters outside the vocabulary could not be encoded",
                    spm.firstUnencodableByte());
        }
        return t;
    }

    /** From the tokenizer embedded in an open GGUF file (vocab-only GGUFs included). */
    public static Tokenizer fromGguf(GgufFile gguf) throws ModelFormatException {
        return fromGgufMetadata(gguf.path(), gguf::javaValue);
    }

    /** Opens a GGUF file, reads its tokenizer and closes it again. */
    public static Tokenizer fromGguf(Path file) throws IOException {
        try (GgufFile gguf = GgufReader.open(file)) {
            return fromGguf(gguf);
        }
    }

    /** From a SentencePiece {@code tokenizer.model} protobuf (BPE models: llama, mistral). */
    public static Tokenizer fromSentencePieceModel(Path file) throws IOException {
        return fromVocabulary(file, SentencePieceModelReader.read(file));
    }

    /**
     * From a Hugging Face model directory: {@code tokenizer.json} (byte-level BPE, or SentencePiece-style BPE),
     * else {@code tokenizer.model}; a SentencePiece-style tokenizer.json defers to a {@code tokenizer.model}
     * beside it, which holds the exact scores. {@code tokenizer_config.json}, when present, gives the
     * special tokens, add_bos/add_eos and the chat template.
     */
    public static Tokenizer fromHfDirectory(Path dir) throws IOException {
        Path json = dir.resolve("tokenizer.json");
        Path spm = dir.resolve("tokenizer.model");
        Path config = dir.resolve("tokenizer_config.json");
        boolean hasJson = Files.isRegularFile(json), hasSpm = Files.isRegularFile(spm);
        if (hasJson) {
            Map<String, Object> root = Json.readObject(json);
            if (!(hasSpm && HfTokenizerReader.isSentencePieceStyle(root))) {
                return fromVocabulary(json, HfTokenizerReader.read(json, root, config));
            }
        }
        if (hasSpm) {
            Vocabulary v = SentencePieceModelReader.read(spm);
            if (Files.isRegularFile(config)) {
                v = v.withChatTemplate(HfTokenizerReader.chatTemplate(config));
            }
            return fromVocabulary(spm, v);
        }
        throw ModelFormatException.of(dir, "has neither tokenizer.json nor tokenizer.model");
    }

    /** From a Hugging Face {@code tokenizer.json} alone (no tokenizer_config.json: no BOS/EOS unless the post-processor adds BOS). */
    public static Tokenizer fromHfTokenizerJson(Path file) throws IOException {
        return fromVocabulary(file, HfTokenizerReader.read(file, null));
    }

    /** From a llama2.c binary tokenizer ({@code tokenizer.bin}, {@code tok512.bin}). */
    public static Tokenizer fromLlama2cBin(Path file) throws IOException {
        return fromVocabulary(file, Llama2cTokenizerReader.read(file));
    }

    /**
     * The vocabulary a tokenizer built here was made from, or empty for other implementations. Model writers use
     * it to carry the tokenizer into exported GGUF metadata and {@code tokenizer.model} files.
     */
    public static java.util.Optional<Vocabulary> vocabularyOf(Tokenizer tokenizer) {
        return tokenizer instanceof VocabularyTokenizer vt ? java.util.Optional.of(vt.vocabulary()) : java.util.Optional.empty();
    }
}
