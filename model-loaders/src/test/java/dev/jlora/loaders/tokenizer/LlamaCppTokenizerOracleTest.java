package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.tokenizer.Tokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Differential test against llama.cpp itself: random texts built from tricky fragments (contractions in both
 * cases, digit runs, every kind of whitespace, combining marks, CJK, emoji, surrogate pairs, special-token text)
 * are tokenized by {@code llama_tokenize} (libllama v0.5.0 from scripts/fetch-llama-natives.sh, vocab-only load)
 * and by jlora, for all four add_special × parse_special combinations. Every id must match.
 *
 * <p>The vocab-only load needs {@code llama_model_params.vocab_only}, which ffm-bindings' LlamaLib does not set,
 * so this test binds the five calls it needs itself. Layout of {@code struct llama_model_params} for v0.5.0 (gcc,
 * x86-64): 80 bytes, {@code n_gpu_layers} at 16, {@code vocab_only} at 72, {@code use_extra_bufts} at 74; the
 * defaults are read back (-1, true) to catch a library that does not match.
 */
@Tag("native")
@Tag("slow")
class LlamaCppTokenizerOracleTest {
    private static final String[] FRAGMENTS = {"a", "b", "Hello", " world", "the", " ", "  ", "\t", "\n", "\r\n", "\r",
            "'s", "'S", "'re", "'LL", "'ve", "'d", "'m", "'t", "'x", "'", "\"", ".", ",", "!", "?", "...", "-", "_", "(", ")",
            "{", "}", "<", ">", "=", "+", "$", "%", "@", "#", "0", "1", "23", "456", "7890", "½", "Ⅻ", "٣", "é", "ñ", "ü",
            "ı", "İ", "ß", "日本", "语", "한국어", "ข", "\u0301", "\u0300", "😀", "🦙", "✅", "\u200d", "\u00a0", "\u3000",
            "\u2009", "\u0085", "\u000b", "\u000c", "<s>", "</s>", "<unk>", "<|eot_id|>", "<|im_start|>", "<|im_end|>",
            "<|endoftext|>", "<|begin_of_text|>", "<|start_header_id|>", "<|user|>", "<|end|>", "[INST]", "[/INST]", "▁",
            "<0x0A>", "Ġ", "ĊĊ", "▁▁", "ab", "cd", "ing", "tion", " the", " a", "A", "Z", "x", "\u007f", "€", "ℂ", "𝕏"};
    private static final int TEXTS = 400;

    private static MethodHandle defaultParams, loadModel, getVocab, tokenize, freeModel;

    @BeforeAll
    static void bind() throws Throwable {
        Path dir = nativeDirectory();
        String[] libs = {"libggml-base.so", "libggml.v0.5.0.so", "libllama.v0.5.0.so"};
        boolean present = dir != null && Arrays.stream(libs).allMatch(l -> Files.isRegularFile(dir.resolve(l)));
        if (!present) {
            String msg = "llama.cpp libraries not found under .cache/llama-native/linux-x64 (run scripts/fetch-llama-natives.sh)";
            if (System.getenv("CI") != null) {
                fail(msg + "; under CI the llama.cpp reference is required");
            }
            assumeTrue(false, msg);
        }
        Arena global = Arena.global();
        SymbolLookup.libraryLookup(dir.resolve(libs[0]), global);
        SymbolLookup ggml = SymbolLookup.libraryLookup(dir.resolve(libs[1]), global);
        SymbolLookup llama = SymbolLookup.libraryLookup(dir.resolve(libs[2]), global);
        Linker linker = Linker.nativeLinker();
        MemoryLayout params = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(10, JAVA_LONG));  // 80 bytes, 8-aligned
        MethodHandle loadAll = linker.downcallHandle(ggml.find("ggml_backend_load_all_from_path").orElseThrow(),
                FunctionDescriptor.ofVoid(ADDRESS));
        MethodHandle logSet = linker.downcallHandle(llama.find("llama_log_set").orElseThrow(), FunctionDescriptor.ofVoid(ADDRESS, ADDRESS));
        defaultParams = linker.downcallHandle(llama.find("llama_model_default_params").orElseThrow(), FunctionDescriptor.of(params));
        loadModel = linker.downcallHandle(llama.find("llama_model_load_from_file").orElseThrow(),
                FunctionDescriptor.of(ADDRESS, ADDRESS, params));
        getVocab = linker.downcallHandle(llama.find("llama_model_get_vocab").orElseThrow(), FunctionDescriptor.of(ADDRESS, ADDRESS));
        tokenize = linker.downcallHandle(llama.find("llama_tokenize").orElseThrow(), FunctionDescriptor.of(JAVA_INT,
                ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_BOOLEAN, JAVA_BOOLEAN));
        freeModel = linker.downcallHandle(llama.find("llama_model_free").orElseThrow(), FunctionDescriptor.ofVoid(ADDRESS));
        try (Arena a = Arena.ofConfined()) {
            loadAll.invokeExact(a.allocateFrom(dir.toString()));
        }
        MemorySegment silent = linker.upcallStub(java.lang.invoke.MethodHandles.lookup().findStatic(LlamaCppTokenizerOracleTest.class,
                "ignoreLog", java.lang.invoke.MethodType.methodType(void.class, int.class, MemorySegment.class, MemorySegment.class)),
                FunctionDescriptor.ofVoid(JAVA_INT, ADDRESS, ADDRESS), global);
        logSet.invokeExact(silent, MemorySegment.NULL);
    }

    @SuppressWarnings("unused")
    private static void ignoreLog(int level, MemorySegment text, MemorySegment user) {
    }

    private static Path nativeDirectory() {
        Path rel = Path.of(".cache", "llama-native", "linux-x64");
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            if (Files.isDirectory(d.resolve(rel))) {
                return d.resolve(rel);
            }
        }
        return null;
    }

    @ParameterizedTest
    @ValueSource(strings = {"vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-phi-3.gguf", "vocab/ggml-vocab-gpt-2.gguf",
            "vocab/ggml-vocab-llama-bpe.gguf", "vocab/ggml-vocab-qwen2.gguf", "stories260K.gguf"})
    void randomTextsMatchLlamaTokenize(String name) throws Throwable {
        Path file = TokenizerFixtures.MODELS.resolve(name);
        Tokenizer tok = Tokenizers.fromGguf(file);
        long seed = name.hashCode();
        SplittableRandom rnd = new SplittableRandom(seed);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < TEXTS; i++) {
            StringBuilder sb = new StringBuilder();
            int n = rnd.nextInt(i < TEXTS - 20 ? 12 : 300);
            for (int k = 0; k < n; k++) {
                sb.append(FRAGMENTS[rnd.nextInt(FRAGMENTS.length)]);
            }
            texts.add(sb.toString());
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = (MemorySegment) defaultParams.invokeExact((SegmentAllocator) a);
            if (p.get(JAVA_INT, 16) != -1 || !p.get(JAVA_BOOLEAN, 74)) {
                fail("llama_model_params layout does not match libllama v0.5.0 (n_gpu_layers/use_extra_bufts defaults)");
            }
            p.set(JAVA_BOOLEAN, 72, true);  // vocab_only
            MemorySegment model = (MemorySegment) loadModel.invokeExact(a.allocateFrom(file.toString()), p);
            if (model.equals(MemorySegment.NULL)) {
                throw new IOException("llama_model_load_from_file(" + file + ", vocab_only) returned NULL");
            }
            try {
                MemorySegment vocab = (MemorySegment) getVocab.invokeExact(model);
                MemorySegment out = a.allocate(JAVA_INT, 1 << 16);
                for (int flags = 0; flags < 4; flags++) {
                    boolean add = (flags & 1) != 0, parse = (flags & 2) != 0;
                    for (String text : texts) {
                        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
                        MemorySegment t = a.allocate(Math.max(1, utf8.length));
                        MemorySegment.copy(utf8, 0, t, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, utf8.length);
                        int n = (int) tokenize.invokeExact(vocab, t, utf8.length, out, 1 << 16, add, parse);
                        int[] want = out.asSlice(0, 4L * n).toArray(JAVA_INT);
                        int[] got = tok.encode(text, add, parse);
                        if (!Arrays.equals(want, got)) {
                            assertEquals(Arrays.toString(want), Arrays.toString(got), String.format(
                                    "%s seed %d add_special=%b parse_special=%b text %s", name, seed, add, parse,
                                    VocabTestCasesTest.escape(text)));
                        }
                    }
                }
            } finally {
                freeModel.invokeExact(model);
            }
        }
    }
}
