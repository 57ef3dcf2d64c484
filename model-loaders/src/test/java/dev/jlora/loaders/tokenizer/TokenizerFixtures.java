package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Paths of the shared fixtures and cached tokenizers built from them (building a 150k vocabulary takes a moment). */
final class TokenizerFixtures {
    static final Path MODELS = Path.of(System.getProperty("jlora.models", "../shared/models"));
    static final Path VOCAB = MODELS.resolve("vocab");
    private static final Map<String, Tokenizer> CACHE = new ConcurrentHashMap<>();

    private TokenizerFixtures() {
    }

    static Tokenizer gguf(String name) throws IOException {
        Tokenizer cached = CACHE.get(name);
        if (cached == null) {
            Path file = name.startsWith("ggml-vocab") ? VOCAB.resolve(name) : MODELS.resolve(name);
            cached = Tokenizers.fromGguf(file);
            CACHE.put(name, cached);
        }
        return cached;
    }

    /** The texts of a llama.cpp {@code .inp} file, split as test-tokenizer-0 splits them. */
    static List<String> testTexts(Path inp) throws IOException {
        String raw = Files.readString(inp, StandardCharsets.UTF_8);
        String sep = "\n__ggml_vocab_test__\n";
        List<String> texts = new ArrayList<>();
        int pos = 0;
        while (pos < raw.length()) {
            int next = raw.indexOf(sep, pos);
            if (next < 0) {
                texts.add(raw.substring(pos));
                break;
            }
            texts.add(raw.substring(pos, next));
            pos = next + sep.length();
        }
        return texts;
    }

    static List<int[]> expectedIds(Path out) throws IOException {
        List<int[]> ids = new ArrayList<>();
        for (String line : Files.readAllLines(out, StandardCharsets.UTF_8)) {
            String s = line.strip();
            ids.add(s.isEmpty() ? new int[0] : java.util.Arrays.stream(s.split(" +")).mapToInt(Integer::parseInt).toArray());
        }
        return ids;
    }
}
