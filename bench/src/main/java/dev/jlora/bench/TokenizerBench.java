package dev.jlora.bench;

import dev.jlora.engine.tokenizer.Tokenizer;
import dev.jlora.loaders.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Encoding speed of the tokenizers on about 1 MB of llama.cpp's tokenizer test texts (mixed scripts, emoji,
 * whitespace runs) repeated; time per whole text. Vocabularies from {@code -Djlora.models} (default ../shared/models).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@State(Scope.Thread)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsPrepend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class TokenizerBench {
    @Param({"ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-bpe.gguf", "ggml-vocab-qwen2.gguf"})
    String vocab;

    Tokenizer tokenizer;
    String text;

    @Setup
    public void setup() throws IOException {
        Path dir = Path.of(System.getProperty("jlora.models", "../shared/models")).resolve("vocab");
        tokenizer = Tokenizers.fromGguf(dir.resolve(vocab));
        String tests = Files.readString(dir.resolve(vocab + ".inp"), StandardCharsets.UTF_8)
                .replace("\n__ggml_vocab_test__\n", " ");
        text = tests.repeat(1_000_000 / tests.length() + 1);
    }

    @Benchmark
    public int[] encode() {
        return tokenizer.encode(text, false, false);
    }
}
