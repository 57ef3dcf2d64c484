package dev.jlora.bench;

import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.ModelWriter;
import dev.jlora.loaders.gguf.GgufFile;
import dev.jlora.loaders.gguf.GgufReader;
import dev.jlora.loaders.gguf.GgufValue;
import dev.jlora.loaders.gguf.GgufWriter;
import dev.jlora.loaders.safetensors.SafetensorsDtype;
import dev.jlora.quant.QuantType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Deterministic random-initialised Llama models at the llama2.c TinyStories shapes (shared/models/README.md) and a
 * 1B-class GQA shape (TinyLlama 1.1B's), written as GGUF with the Llama 2 32000-token SentencePiece vocabulary, so
 * that jlora and llama.cpp load the same file, and as a Hugging Face directory ({@link #writeHf}). Weights are
 * N(0, 0.02²) from a fixed seed; norms are 1. The values are meaningless, the shapes and formats are real.
 */
public final class BenchModels {
    /** A model shape; {@code kvHeads} &lt; {@code heads} is grouped-query attention. */
    public record Shape(String name, int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int context) {
        public int headDim() {
            return dim / heads;
        }

        /** Rows of the key and value projections. */
        public int kvDim() {
            return kvHeads * headDim();
        }
    }

    public static final Shape STORIES15M = new Shape("stories15M", 288, 768, 6, 6, 6, 32000, 256);
    public static final Shape STORIES42M = new Shape("stories42M", 512, 1376, 8, 8, 8, 32000, 1024);
    public static final Shape STORIES110M = new Shape("stories110M", 768, 2048, 12, 12, 12, 32000, 1024);
    /** TinyLlama 1.1B's shape (1.1 G parameters, 32 query heads over 4 key/value heads): the memory-test size. */
    public static final Shape TINYLLAMA_1B = new Shape("tinyllama1B", 2048, 5632, 22, 32, 4, 32000, 2048);

    private BenchModels() {}

    public static Shape shape(String name) {
        return switch (name) {
            case "stories15M", "15M" -> STORIES15M;
            case "stories42M", "42M" -> STORIES42M;
            case "stories110M", "110M" -> STORIES110M;
            case "tinyllama1B", "1B" -> TINYLLAMA_1B;
            default -> throw new IllegalArgumentException(
                    "unknown shape '" + name + "': stories15M, stories42M, stories110M or tinyllama1B (1B)");
        };
    }

    /**
     * Writes {@code shape} in {@code type} (norms stay F32) to {@code out} unless a file of that name exists.
     *
     * @param vocabGguf a vocabulary-only GGUF whose tokenizer.* keys are copied (shared/models/vocab/ggml-vocab-llama-spm.gguf)
     */
    public static Path write(Shape shape, QuantType type, Path vocabGguf, Path out, long seed) throws IOException {
        if (Files.isRegularFile(out)) {
            return out;
        }
        Files.createDirectories(out.toAbsolutePath().getParent());
        var w = new GgufWriter();
        w.putString("general.architecture", "llama");
        w.putString("general.name", shape.name() + "-random-" + type);
        w.putUint32("llama.context_length", shape.context());
        w.putUint32("llama.embedding_length", shape.dim());
        w.putUint32("llama.feed_forward_length", shape.hidden());
        w.putUint32("llama.block_count", shape.layers());
        w.putUint32("llama.attention.head_count", shape.heads());
        w.putUint32("llama.attention.head_count_kv", shape.kvHeads());
        w.putUint32("llama.rope.dimension_count", shape.headDim());
        w.putFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        w.putFloat32("llama.rope.freq_base", 10000f);
        try (GgufFile vocab = GgufReader.open(vocabGguf)) {
            for (Map.Entry<String, GgufValue> e : vocab.metadata().entrySet()) {
                if (e.getKey().startsWith("tokenizer.")) {
                    w.put(e.getKey(), e.getValue());
                }
            }
        }
        int C = shape.dim(), F = shape.hidden(), V = shape.vocab();
        var rnd = new SplittableRandom(seed);
        try (Arena arena = Arena.ofConfined()) {
            matrix(w, arena, rnd, "token_embd.weight", type, V, C);
            vector(w, "output_norm.weight", C);
            matrix(w, arena, rnd, "output.weight", type, V, C);
            for (int l = 0; l < shape.layers(); l++) {
                String p = "blk." + l + ".";
                vector(w, p + "attn_norm.weight", C);
                matrix(w, arena, rnd, p + "attn_q.weight", type, C, C);
                matrix(w, arena, rnd, p + "attn_k.weight", type, shape.kvDim(), C);
                matrix(w, arena, rnd, p + "attn_v.weight", type, shape.kvDim(), C);
                matrix(w, arena, rnd, p + "attn_output.weight", type, C, C);
                vector(w, p + "ffn_norm.weight", C);
                matrix(w, arena, rnd, p + "ffn_gate.weight", type, F, C);
                matrix(w, arena, rnd, p + "ffn_up.weight", type, F, C);
                matrix(w, arena, rnd, p + "ffn_down.weight", type, C, F);
            }
            w.write(out);
        }
        return out;
    }

    /**
     * The same model as {@link #write} (F32 or F16 GGUF, whose values it reads) as a Hugging Face directory:
     * config.json, model.safetensors in {@code dtype} and the tokenizer files, written unless {@code dir} has a
     * config.json already.
     */
    public static Path writeHf(Shape shape, QuantType type, Path vocabGguf, Path gguf, Path dir,
                               SafetensorsDtype dtype, long seed) throws IOException {
        if (Files.isRegularFile(dir.resolve("config.json")) && Files.isRegularFile(dir.resolve("model.safetensors"))) {
            return dir;
        }
        if (type != QuantType.F32 && type != QuantType.F16) {
            throw new IllegalArgumentException("a safetensors benchmark model is written from an F32 or F16 GGUF, not " + type);
        }
        write(shape, type, vocabGguf, gguf, seed);
        ModelWriter.writeHf(ModelLoader.load(gguf), dir, dtype);
        return dir;
    }

    /** [rows × cols] (ggml shape {cols, rows}), quantized with ggml's reference quantizer of {@code type}. */
    private static void matrix(GgufWriter w, Arena arena, SplittableRandom rnd, String name, QuantType type,
                               int rows, int cols) {
        long rowBytes = type.rowBytes(cols);
        MemorySegment data = arena.allocate(rowBytes * rows, 64);
        float[] row = new float[cols];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < cols; i++) {
                row[i] = (float) (rnd.nextGaussian() * 0.02);
            }
            type.format().quantizeRowRef(row, 0, data, r * rowBytes, cols);
        }
        w.addTensor(name, type, new long[] {cols, rows}, data);
    }

    private static void vector(GgufWriter w, String name, int n) {
        float[] ones = new float[n];
        java.util.Arrays.fill(ones, 1f);
        w.addTensor(name, new long[] {n}, ones);
    }
}
