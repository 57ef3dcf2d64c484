package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
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
            Map<String, Object> md = readGgufMetadata(file);
            cached = Tokenizers.fromGgufMetadata(file, md::get);
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

    /**
     * GGUF v3 key/value section only (the tensors are not needed here), read independently of the loader's
     * GgufReader so these tests pin the tokenizer, not the reader.
     */
    static Map<String, Object> readGgufMetadata(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        if (b.getInt() != 0x46554747) {
            throw new IOException(file + ": not GGUF");
        }
        b.getInt();
        b.getLong();
        long kvs = b.getLong();
        Map<String, Object> md = new HashMap<>();
        for (long i = 0; i < kvs; i++) {
            String key = str(b);
            md.put(key, value(b, b.getInt()));
        }
        return md;
    }

    private static String str(ByteBuffer b) {
        int len = (int) b.getLong();
        byte[] bytes = new byte[len];
        b.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private static Object value(ByteBuffer b, int type) {
        return switch (type) {
            case 0 -> (long) (b.get() & 0xFF);
            case 1 -> (long) b.get();
            case 2 -> (long) (b.getShort() & 0xFFFF);
            case 3 -> (long) b.getShort();
            case 4 -> b.getInt() & 0xFFFFFFFFL;
            case 5 -> (long) b.getInt();
            case 6 -> (double) b.getFloat();
            case 7 -> b.get() != 0;
            case 8 -> str(b);
            case 9 -> {
                int et = b.getInt();
                int n = (int) b.getLong();
                List<Object> list = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    list.add(value(b, et));
                }
                yield list;
            }
            case 10, 11 -> b.getLong();
            case 12 -> b.getDouble();
            default -> throw new IllegalArgumentException("GGUF type " + type);
        };
    }
}
