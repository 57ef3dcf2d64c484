package dev.jlora.loaders;

import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.MemoryBudget;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.tokenizer.Tokenizer;
import dev.jlora.loaders.gguf.GgufConfig;
import dev.jlora.loaders.gguf.GgufFile;
import dev.jlora.loaders.gguf.GgufReader;
import dev.jlora.loaders.gguf.GgufTensorInfo;
import dev.jlora.loaders.hf.HfConfig;
import dev.jlora.loaders.safetensors.SafetensorsFile;
import dev.jlora.loaders.safetensors.SafetensorsReader;
import dev.jlora.loaders.safetensors.SafetensorsTensor;
import dev.jlora.loaders.tokenizer.Tokenizers;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Loads a Llama-family model (llama, mistral, qwen2) from a GGUF file or a Hugging Face directory
 * ({@code config.json}, {@code model.safetensors} or shards with an index, tokenizer files).
 *
 * <p>Linear weights stay in their stored format and are read in place from the memory-mapped file (the mapping
 * lives as long as the model is referenced). With {@link LoadOptions#quant()} set, the seven linear weights of
 * every block and the output head are quantized at load ({@link QuantPlan} picks a fallback for rows the format
 * cannot hold); a tied head becomes a quantized copy of the embedding. The token embedding keeps its stored
 * format unless {@link LoadOptions#quantizeEmbedding()}; norms and biases are read to fp32. Quantizing streams
 * the source in row runs and releases the mapped pages of each run once it is read, so that no full fp32 copy of
 * a weight is ever resident next to its quantized copy (docs/PERFORMANCE.md, "Memory").
 *
 * <p>GGUF llama/mistral files keep llama.cpp's permuted Q/K rows ({@code ropeInterleaved = true}); Hugging
 * Face checkpoints and qwen2 keep the half-split layout ({@code false}); the engine handles both.
 */
public final class ModelLoader {

    private static final System.Logger LOG = System.getLogger(ModelLoader.class.getName());
    /** How far back a release of a quantized row run reaches: one PMD-mapped huge page (x86-64). */
    private static final long RELEASE_BEHIND = 2L << 20;

    private ModelLoader() {}

    /**
     * @param quant             format for the linear weights: the blocks' and the output head's; null keeps the
     *                          stored formats
     * @param tokenizer         load the tokenizer (false gives a model with a null tokenizer, for weight-only tools)
     * @param memory            budget for the weights as loaded (mapped tensors count, quantized ones at their new
     *                          size): checked before anything is quantized or copied
     * @param quantizeEmbedding also quantize the token embedding to {@code quant} (lookups dequantize one row);
     *                          without it the embedding keeps its stored format, as norms do
     */
    public record LoadOptions(QuantType quant, boolean tokenizer, MemoryBudget memory, boolean quantizeEmbedding) {
        public static final LoadOptions DEFAULT = new LoadOptions(null, true);

        public LoadOptions {
            if (quantizeEmbedding && quant == null) {
                throw new IllegalArgumentException("quantizing the token embedding needs a quant type (--quant)");
            }
        }

        public LoadOptions(QuantType quant, boolean tokenizer) {
            this(quant, tokenizer, MemoryBudget.UNLIMITED);
        }

        public LoadOptions(QuantType quant, boolean tokenizer, MemoryBudget memory) {
            this(quant, tokenizer, memory, false);
        }

        /** Options with {@code quant} parsed from a CLI name (none, nf4, q4_0, q4_k, q8_0, …). */
        public static LoadOptions withQuant(String quant) {
            return new LoadOptions(QuantPlan.parse(quant), true);
        }

        public LoadOptions withMemory(MemoryBudget budget) {
            return new LoadOptions(quant, tokenizer, budget, quantizeEmbedding);
        }

        /** These options with the token embedding quantized too (or not). */
        public LoadOptions withQuantizedEmbedding(boolean quantize) {
            return new LoadOptions(quant, tokenizer, memory, quantize);
        }
    }

    public static LlamaModel load(Path path) throws IOException {
        return load(path, LoadOptions.DEFAULT);
    }

    /** Loads a GGUF file, or a Hugging Face directory (also given as its config.json or a .safetensors in it). */
    public static LlamaModel load(Path path, LoadOptions options) throws IOException {
        if (!Files.exists(path)) {
            throw new ModelFormatException(path + ": no such file or directory");
        }
        if (Files.isDirectory(path)) {
            return loadHf(path, options);
        }
        String name = path.getFileName().toString();
        if (name.equals("config.json") || name.endsWith(".safetensors") || name.endsWith(".safetensors.index.json")) {
            return loadHf(path.toAbsolutePath().getParent(), options);
        }
        if (isGguf(path)) {
            return loadGguf(path, options);
        }
        throw ModelFormatException.of(path, "is neither a GGUF file (magic 'GGUF') nor a Hugging Face model directory");
    }

    private static boolean isGguf(Path path) throws IOException {
        try (InputStream in = Files.newInputStream(path)) {
            byte[] m = in.readNBytes(4);
            return Arrays.equals(m, new byte[] {'G', 'G', 'U', 'F'});
        }
    }

    /** Loads a GGUF model. */
    public static LlamaModel loadGguf(Path file, LoadOptions options) throws IOException {
        // An automatic arena: the mapping stays while any weight (or segment) of the model is reachable.
        GgufFile f = GgufReader.open(file, Arena.ofAuto());
        LlamaConfig config = GgufConfig.read(f);
        WeightSource src = new WeightSource() {
            @Override public boolean has(String name) {
                return f.hasTensor(name);
            }

            @Override public QuantMatrix matrix(String name, int rows, int cols) throws ModelFormatException {
                GgufTensorInfo t = f.requireShape(name, cols, rows);
                return wrap(file, name, t.type(), f.tensorData(t), rows, cols);
            }

            @Override public void release(String name, long fromByte, long toByte) throws ModelFormatException {
                WeightSource.unloadIfMapped(f.tensorData(name).asSlice(fromByte, toByte - fromByte));
            }

            @Override public float[] vector(String name, int n) throws ModelFormatException {
                f.requireShape(name, n);
                return f.readFloats(name);
            }
        };
        LlamaWeights weights = assemble(config, src, options, file);
        Tokenizer tok = options.tokenizer() ? Tokenizers.fromGguf(f) : null;
        return new LlamaModel(config, weights, tok);
    }

    /** Loads a Hugging Face model directory. */
    public static LlamaModel loadHf(Path dir, LoadOptions options) throws IOException {
        Path configFile = dir.resolve("config.json");
        if (!Files.isRegularFile(configFile)) {
            throw ModelFormatException.of(dir, "is not a Hugging Face model directory: config.json is missing");
        }
        LlamaConfig config = HfConfig.read(configFile);
        SafetensorsFile st = SafetensorsReader.open(dir, Arena.ofAuto());
        WeightSource src = new WeightSource() {
            @Override public boolean has(String ggufName) {
                return st.has(TensorNames.ggufToHf(ggufName));
            }

            @Override public QuantMatrix matrix(String ggufName, int rows, int cols) throws ModelFormatException {
                String name = TensorNames.ggufToHf(ggufName);
                SafetensorsTensor t = st.requireShape(name, rows, cols);
                QuantType type = t.dtype().quantType();
                if (type == null) {
                    throw ModelFormatException.tensor(t.file(), name, "has dtype %s; expected F32, F16 or BF16", t.dtype());
                }
                return wrap(t.file(), name, type, t.data(), rows, cols);
            }

            @Override public void release(String ggufName, long fromByte, long toByte) throws ModelFormatException {
                WeightSource.unloadIfMapped(st.tensor(TensorNames.ggufToHf(ggufName)).data()
                        .asSlice(fromByte, toByte - fromByte));
            }

            @Override public float[] vector(String ggufName, int n) throws ModelFormatException {
                String name = TensorNames.ggufToHf(ggufName);
                st.requireShape(name, n);
                return st.readFloats(name);
            }
        };
        if (!config.tiedEmbeddings() && !st.has(TensorNames.HF_LM_HEAD)) {
            throw ModelFormatException.tensor(st.files().getFirst(), TensorNames.HF_LM_HEAD,
                    "is missing and config.json does not set tie_word_embeddings");
        }
        LlamaWeights weights = assemble(config, src, options, dir);
        Tokenizer tok = options.tokenizer() ? Tokenizers.fromHfDirectory(dir) : null;
        return new LlamaModel(config, weights, tok);
    }

    private static QuantMatrix wrap(Path file, String name, QuantType type, java.lang.foreign.MemorySegment data,
                                    int rows, int cols) throws ModelFormatException {
        try {
            return type.wrap(data, rows, cols);
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            throw ModelFormatException.tensor(file, name, "%s", e.getMessage());
        }
    }

    /** Rows of block weight {@code t}: its output features. */
    private static int rows(LlamaConfig c, Target t) {
        return switch (t) {
            case Q -> c.qDim();
            case K, V -> c.kvDim();
            case O, DOWN -> c.dim();
            case GATE, UP -> c.hiddenDim();
        };
    }

    /** Columns of block weight {@code t}: its input features. */
    private static int cols(LlamaConfig c, Target t) {
        return switch (t) {
            case O -> c.qDim();
            case DOWN -> c.hiddenDim();
            default -> c.dim();
        };
    }

    private static LlamaWeights assemble(LlamaConfig c, WeightSource src, LoadOptions options, Path where)
            throws ModelFormatException {
        int C = c.dim();
        QuantType quant = options.quant();
        QuantMatrix storedEmbd = src.matrix(TensorNames.GGUF_TOKEN_EMBD, c.vocabSize(), C);
        float[] finalNorm = src.vector(TensorNames.GGUF_OUTPUT_NORM, C);
        boolean separateHead = src.has(TensorNames.GGUF_OUTPUT) && !c.tiedEmbeddings();
        QuantMatrix storedOutput = separateHead ? src.matrix(TensorNames.GGUF_OUTPUT, c.vocabSize(), C) : storedEmbd;
        List<LlamaWeights.Layer> layers = new ArrayList<>(c.nLayers());
        List<String> fallbacks = new ArrayList<>();
        QuantMatrix[][] stored = new QuantMatrix[c.nLayers()][];
        // First pass: map only, and add up the size as it will be loaded.
        long bytes = loadedBytes(storedEmbd, options.quantizeEmbedding() ? quant : null);
        boolean headCopy = !separateHead && quant != null && !options.quantizeEmbedding()
                && QuantPlan.forColumns(quant, C) != storedEmbd.type();       // a tied head quantized apart
        if (separateHead || headCopy) {
            bytes += loadedBytes(storedOutput, quant);
        }
        bytes += 4L * C + 4L * c.nLayers() * (2L * C + (c.attentionBias() ? c.qDim() + 2L * c.kvDim() : 0));  // norms, biases
        for (int l = 0; l < c.nLayers(); l++) {
            stored[l] = new QuantMatrix[Target.values().length];
            for (Target t : Target.values()) {
                QuantMatrix m = src.matrix(TensorNames.gguf(t, l), rows(c, t), cols(c, t));
                stored[l][t.ordinal()] = m;
                bytes += loadedBytes(m, quant);
            }
        }
        options.memory().require("the weights of " + where.getFileName()
                        + (quant == null ? "" : " as " + quant), bytes, 0,
                quant == null ? "quantize them on load (--quant Q4_0, NF4, …) or raise --max-memory"
                        : "use a smaller format or raise --max-memory");
        for (int l = 0; l < c.nLayers(); l++) {
            QuantMatrix[] w = new QuantMatrix[Target.values().length];
            for (Target t : Target.values()) {
                w[t.ordinal()] = quantizeAtLoad(stored[l][t.ordinal()], TensorNames.gguf(t, l), quant, src, fallbacks);
            }
            float[] bq = null;
            float[] bk = null;
            float[] bv = null;
            if (c.attentionBias()) {
                bq = src.vector(TensorNames.ggufBias(Target.Q, l), c.qDim());
                bk = src.vector(TensorNames.ggufBias(Target.K, l), c.kvDim());
                bv = src.vector(TensorNames.ggufBias(Target.V, l), c.kvDim());
            }
            layers.add(new LlamaWeights.Layer(src.vector(TensorNames.ggufAttnNorm(l), C),
                    w[Target.Q.ordinal()], w[Target.K.ordinal()], w[Target.V.ordinal()], w[Target.O.ordinal()],
                    bq, bk, bv, src.vector(TensorNames.ggufFfnNorm(l), C),
                    w[Target.GATE.ordinal()], w[Target.UP.ordinal()], w[Target.DOWN.ordinal()]));
        }
        QuantMatrix embd = options.quantizeEmbedding()
                ? quantizeAtLoad(storedEmbd, TensorNames.GGUF_TOKEN_EMBD, quant, src, fallbacks) : storedEmbd;
        QuantMatrix output;
        if (separateHead) {
            output = quantizeAtLoad(storedOutput, TensorNames.GGUF_OUTPUT, quant, src, fallbacks);
        } else if (options.quantizeEmbedding() || quant == null) {
            output = embd;
        } else {
            // Tied, embedding kept: the head is read whole every token, so it gets a quantized copy; the stored
            // embedding's pages are dropped as the copy is made and come back row by row as tokens are looked up.
            output = quantizeAtLoad(storedEmbd, TensorNames.GGUF_TOKEN_EMBD, quant, src, fallbacks);
        }
        if (!fallbacks.isEmpty()) {
            LOG.log(System.Logger.Level.INFO, "{0}: {1} weights cannot hold {2} (row length); used {3}",
                    where.getFileName(), fallbacks.size(), quant, fallbacks.size() > 6
                            ? String.join(", ", fallbacks.subList(0, 6)) + ", …" : String.join(", ", fallbacks));
        }
        return new LlamaWeights(embd, layers, finalNorm, output);
    }

    /** Bytes of {@code m} once loaded with {@code quant} (null: as stored). */
    private static long loadedBytes(QuantMatrix m, QuantType quant) {
        QuantType q = quant == null ? m.type() : QuantPlan.forColumns(quant, m.cols());
        return q == m.type() ? m.storageBytes() : q.matrixBytes(m.rows(), m.cols());
    }

    /**
     * {@code m} in {@code quant}'s format for its row length (itself when that is its stored format or quant is
     * null), streamed row run by row run with each run's mapped pages released once read.
     */
    private static QuantMatrix quantizeAtLoad(QuantMatrix m, String name, QuantType quant, WeightSource src,
                                              List<String> fallbacks) throws ModelFormatException {
        if (quant == null) {
            return m;
        }
        QuantType q = QuantPlan.forColumns(quant, m.cols());
        if (q != quant) {
            fallbacks.add(name + "→" + q);
        }
        if (q == m.type()) {
            return m;
        }
        long rowBytes = m.type().rowBytes(m.cols());
        List<ModelFormatException> failed = new java.util.concurrent.CopyOnWriteArrayList<>();
        QuantMatrix out = q.quantize(m, (from, to) -> {
            try {
                // A page fault maps more than the page it needs: fault-around maps up to 64 KiB of cached pages
                // around it, and a file-backed transparent huge page 2 MiB. Pages of runs released earlier come
                // back that way, so each release reaches back over them.
                src.release(name, Math.max(0, from * rowBytes - RELEASE_BEHIND), to * rowBytes);
            } catch (ModelFormatException e) {
                failed.add(e);
            }
        });
        if (!failed.isEmpty()) {
            throw failed.getFirst();
        }
        src.release(name, 0, m.rows() * rowBytes);   // what reads at the edges of the worker ranges mapped back
        return out;
    }
}
