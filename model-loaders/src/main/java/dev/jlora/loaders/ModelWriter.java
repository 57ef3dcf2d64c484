package dev.jlora.loaders;

import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.loaders.gguf.GgufArray;
import dev.jlora.loaders.gguf.GgufConfig;
import dev.jlora.loaders.gguf.GgufType;
import dev.jlora.loaders.gguf.GgufWriter;
import dev.jlora.loaders.hf.HfConfig;
import dev.jlora.loaders.hf.SentencePieceModelWriter;
import dev.jlora.loaders.io.AtomicFile;
import dev.jlora.loaders.safetensors.SafetensorsDtype;
import dev.jlora.loaders.safetensors.SafetensorsWriter;
import dev.jlora.loaders.tokenizer.HfTokenizerWriter;
import dev.jlora.loaders.tokenizer.Tokenizers;
import dev.jlora.loaders.tokenizer.Vocabulary;
import dev.jlora.quant.BlockFormat;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
import dev.jlora.simd.Parallel;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Writes a {@link LlamaModel} as a Hugging Face directory or as a GGUF file.
 *
 * <p>Hugging Face: {@code config.json}, {@code model.safetensors} (F32, F16 or BF16; Q/K rows in the half-split
 * layout, un-permuted from llama.cpp's when the model came from a llama GGUF), the tokenizer ({@code tokenizer.model}
 * for SentencePiece vocabularies, {@code tokenizer.json} for byte-level BPE, each with {@code tokenizer_config.json}).
 * Quantized weights are written dequantized.
 *
 * <p>GGUF v3: the model-shape metadata, the tokenizer ({@code tokenizer.ggml.*}) and the tensors, linear weights in
 * a chosen {@link QuantType} (re-quantized from their dequantized rows with ggml's reference quantizers; rows the
 * format cannot hold fall back per {@link QuantPlan}), Q/K rows permuted for the llama/mistral arch.
 * Embeddings keep their stored format; norms and biases are F32.
 */
public final class ModelWriter {

    private ModelWriter() {}

    /** Writes {@code m} into directory {@code dir} (created if needed) with tensors in {@code dtype}. */
    public static void writeHf(LlamaModel m, Path dir, SafetensorsDtype dtype) throws IOException {
        if (dtype.quantType() == null) {
            throw new IllegalArgumentException("Hugging Face export writes F32, F16 or BF16 tensors, not " + dtype);
        }
        LlamaConfig c = m.config();
        Optional<Vocabulary> vocab = m.tokenizer() == null ? Optional.empty() : Tokenizers.vocabularyOf(m.tokenizer());
        if (m.tokenizer() != null && vocab.isEmpty()) {
            throw new UnsupportedOperationException("this model's tokenizer has no vocabulary to write into a Hugging "
                    + "Face directory; load it without a tokenizer to export the weights alone");
        }
        Files.createDirectories(dir);
        LlamaWeights w = m.weights();
        SafetensorsWriter st = new SafetensorsWriter().metadata("format", "pt");
        st.add(TensorNames.HF_EMBED_TOKENS, dtype, new long[] {c.vocabSize(), c.dim()}, dense(w.tokenEmbedding()));
        for (int l = 0; l < c.nLayers(); l++) {
            LlamaWeights.Layer layer = w.layers().get(l);
            st.add(TensorNames.hfAttnNorm(l), dtype, new long[] {c.dim()}, layer.attnNorm());
            for (Target t : Target.values()) {
                QuantMatrix q = linear(layer, t);
                float[] dense = dense(q);
                if (TensorNames.isRotary(t) && c.ropeInterleaved()) {
                    dense = TensorNames.permuteRowsToHf(dense, q.rows(), q.cols(), c.headDim());
                }
                st.add(TensorNames.hf(t, l), dtype, new long[] {q.rows(), q.cols()}, dense);
            }
            if (c.attentionBias()) {
                st.add(TensorNames.hfBias(Target.Q, l), dtype, new long[] {c.qDim()}, hfBias(layer.bq(), c));
                st.add(TensorNames.hfBias(Target.K, l), dtype, new long[] {c.kvDim()}, hfBias(layer.bk(), c));
                st.add(TensorNames.hfBias(Target.V, l), dtype, new long[] {c.kvDim()}, layer.bv());
            }
            st.add(TensorNames.hfFfnNorm(l), dtype, new long[] {c.dim()}, layer.ffnNorm());
        }
        st.add(TensorNames.HF_NORM, dtype, new long[] {c.dim()}, w.finalNorm());
        boolean tied = w.output() == w.tokenEmbedding();
        if (!tied) {
            st.add(TensorNames.HF_LM_HEAD, dtype, new long[] {c.vocabSize(), c.dim()}, dense(w.output()));
        }
        LlamaConfig hfConfig = new LlamaConfig(c.architecture(), c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(),
                c.nKvHeads(), c.headDim(), c.vocabSize(), c.contextLength(), c.rmsEps(), c.ropeTheta(), c.ropeScaling(),
                false, tied, c.attentionBias());
        Map<String, Object> json = HfConfig.toJson(hfConfig, vocab.map(Vocabulary::bos).orElse(-1),
                vocab.map(Vocabulary::eos).orElse(-1));
        json.put("torch_dtype", switch (dtype) {
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            default -> "float32";
        });
        st.write(dir.resolve("model.safetensors"));
        if (vocab.isPresent() && vocab.get().model() == Vocabulary.Model.BPE) {
            HfTokenizerWriter.write(vocab.get(), dir);
        } else if (vocab.isPresent()) {
            Vocabulary v = vocab.get();
            SentencePieceModelWriter.write(v, dir.resolve("tokenizer.model"));
            AtomicFile.writeString(dir.resolve("tokenizer_config.json"),
                    Json.writePretty(HfTokenizerWriter.tokenizerConfig(v, "LlamaTokenizer")) + "\n");
        }
        // config.json last: a directory without it is not taken for a complete model.
        AtomicFile.writeString(dir.resolve("config.json"), Json.writePretty(json) + "\n");
    }

    private static float[] hfBias(float[] b, LlamaConfig c) {
        return c.ropeInterleaved() ? TensorNames.permuteRowsToHf(b, b.length, 1, c.headDim()) : b;
    }

    /**
     * Writes {@code m} as GGUF v3 with the linear weights (blocks and an untied output head) in {@code linearType},
     * or in their stored formats when it is null.
     */
    public static void writeGguf(LlamaModel m, Path file, QuantType linearType) throws IOException {
        LlamaConfig c = m.config();
        if (linearType != null && linearType.ggmlId() < 0) {
            throw new UnsupportedOperationException(linearType + " has no GGUF (ggml) type; choose one of q4_0, q4_k, "
                    + "q5_k, q6_k, q8_0, f16, f32");
        }
        String arch = c.architecture().toLowerCase(Locale.ROOT);
        // llama.cpp's llama/mistral graphs rotate adjacent pairs: their GGUFs hold permuted Q/K rows; qwen2 does not.
        boolean wantInterleaved = !arch.equals("qwen2");
        GgufWriter g = new GgufWriter();
        g.putString("general.name", arch + "-jlora");
        GgufConfig.write(c, g);
        if (linearType != null) {
            g.putUint32("general.file_type", fileType(linearType));
            g.putUint32("general.quantization_version", 2);
        }
        if (m.tokenizer() != null) {
            Vocabulary v = Tokenizers.vocabularyOf(m.tokenizer()).orElseThrow(() -> new UnsupportedOperationException(
                    "this model's tokenizer has no vocabulary to write into GGUF metadata"));
            putTokenizer(g, v);
        }
        LlamaWeights w = m.weights();
        float[] ropeFactors = GgufConfig.ropeFrequencyFactors(c);
        if (ropeFactors != null) {
            g.addTensor(TensorNames.GGUF_ROPE_FREQS, new long[] {ropeFactors.length}, ropeFactors);
        }
        addMatrix(g, TensorNames.GGUF_TOKEN_EMBD, w.tokenEmbedding(), storedOrF32(w.tokenEmbedding().type()), 0);
        for (int l = 0; l < c.nLayers(); l++) {
            LlamaWeights.Layer layer = w.layers().get(l);
            g.addTensor(TensorNames.ggufAttnNorm(l), new long[] {c.dim()}, layer.attnNorm());
            for (Target t : Target.values()) {
                QuantMatrix q = linear(layer, t);
                QuantType type = linearType == null ? storedOrF32(q.type()) : QuantPlan.forColumns(linearType, q.cols());
                int permute = !TensorNames.isRotary(t) || c.ropeInterleaved() == wantInterleaved ? 0
                        : wantInterleaved ? c.headDim() : -c.headDim();
                addMatrix(g, TensorNames.gguf(t, l), q, type, permute);
            }
            if (c.attentionBias()) {
                g.addTensor(TensorNames.ggufBias(Target.Q, l), new long[] {c.qDim()}, ggufBias(layer.bq(), c, wantInterleaved));
                g.addTensor(TensorNames.ggufBias(Target.K, l), new long[] {c.kvDim()}, ggufBias(layer.bk(), c, wantInterleaved));
                g.addTensor(TensorNames.ggufBias(Target.V, l), new long[] {c.kvDim()}, layer.bv());
            }
            g.addTensor(TensorNames.ggufFfnNorm(l), new long[] {c.dim()}, layer.ffnNorm());
        }
        g.addTensor(TensorNames.GGUF_OUTPUT_NORM, new long[] {c.dim()}, w.finalNorm());
        if (w.output() != w.tokenEmbedding()) {
            QuantType type = linearType == null ? storedOrF32(w.output().type()) : QuantPlan.forColumns(linearType, c.dim());
            addMatrix(g, TensorNames.GGUF_OUTPUT, w.output(), type, 0);
        }
        g.write(file);
    }

    private static float[] ggufBias(float[] b, LlamaConfig c, boolean wantInterleaved) {
        if (c.ropeInterleaved() == wantInterleaved) {
            return b;
        }
        return wantInterleaved ? TensorNames.permuteRowsToGguf(b, b.length, 1, c.headDim())
                : TensorNames.permuteRowsToHf(b, b.length, 1, c.headDim());
    }

    /**
     * Adds weight {@code q} as {@code type}, row by row (dequantize, then ggml's reference quantizer). A positive
     * {@code permute} head size reorders rows HF → GGUF, a negative one GGUF → HF, 0 keeps them.
     */
    private static void addMatrix(GgufWriter g, String name, QuantMatrix q, QuantType type, int permute) {
        int rows = q.rows();
        int cols = q.cols();
        int hs = Math.abs(permute);
        boolean toGguf = permute > 0;
        BlockFormat f = type.format();
        long rowBytes = type.rowBytes(cols);
        g.addTensor(name, type, new long[] {cols, rows}, (MemorySegment dest) ->
                Parallel.parallelForRange(rows, 16, (r0, r1) -> {
                    float[] buf = new float[cols];
                    for (int r = r0; r < r1; r++) {
                        // Output row r holds source row src: GGUF row r ← HF row hfRowOfGgufRow(r); inverse otherwise.
                        int src = permute == 0 ? r
                                : toGguf ? TensorNames.hfRowOfGgufRow(r, hs) : TensorNames.ggufRowOfHfRow(r, hs);
                        q.dequantizeRow(src, buf, 0);
                        f.quantizeRowRef(buf, 0, dest, r * rowBytes, cols);
                    }
                }));
    }

    private static QuantType storedOrF32(QuantType t) {
        return t.ggmlId() >= 0 ? t : QuantType.F32;
    }

    /** llama.cpp {@code enum llama_ftype} for a uniform linear type (informational in GGUF). */
    private static int fileType(QuantType t) {
        return switch (t) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q4_1 -> 3;
            case Q8_0 -> 7;
            case Q5_0 -> 8;
            case Q5_1 -> 9;
            case Q4_K -> 15;   // Q4_K_M
            case Q5_K -> 17;   // Q5_K_M
            case Q6_K -> 18;
            case BF16 -> 32;
            default -> 0;
        };
    }

    /** The {@code tokenizer.ggml.*} keys llama.cpp reads (llama-vocab.cpp). */
    static void putTokenizer(GgufWriter g, Vocabulary v) {
        boolean spm = v.model() == Vocabulary.Model.SPM;
        g.putString("tokenizer.ggml.model", spm ? "llama" : "gpt2");
        if (v.preTokenizer() != null) {
            g.putString("tokenizer.ggml.pre", v.preTokenizer());
        } else if (spm) {
            g.putString("tokenizer.ggml.pre", "default");
        }
        g.putArray("tokenizer.ggml.tokens", GgufArray.ofStrings(v.pieces()));
        if (spm) {
            g.putArray("tokenizer.ggml.scores", GgufArray.ofFloats(v.scores()));
        }
        g.putArray("tokenizer.ggml.token_type", GgufArray.ofIntegers(GgufType.INT32, v.tokenTypes()));
        if (!spm) {
            g.putArray("tokenizer.ggml.merges", GgufArray.ofStrings(v.merges()));
        }
        if (v.bos() >= 0) {
            g.putUint32("tokenizer.ggml.bos_token_id", v.bos());
        }
        if (v.eos() >= 0) {
            g.putUint32("tokenizer.ggml.eos_token_id", v.eos());
        }
        if (v.unk() >= 0) {
            g.putUint32("tokenizer.ggml.unknown_token_id", v.unk());
        }
        if (v.eot() >= 0) {
            g.putUint32("tokenizer.ggml.eot_token_id", v.eot());
        }
        g.putBool("tokenizer.ggml.add_bos_token", v.addBos());
        g.putBool("tokenizer.ggml.add_eos_token", v.addEos());
        if (spm) {
            g.putBool("tokenizer.ggml.add_space_prefix", v.addSpacePrefix());
        }
        if (v.chatTemplate() != null) {
            g.putString("tokenizer.chat_template", v.chatTemplate());
        }
    }

    private static QuantMatrix linear(LlamaWeights.Layer l, Target t) {
        return switch (t) {
            case Q -> l.wq();
            case K -> l.wk();
            case V -> l.wv();
            case O -> l.wo();
            case GATE -> l.wGate();
            case UP -> l.wUp();
            case DOWN -> l.wDown();
        };
    }

    private static float[] dense(QuantMatrix q) {
        long n = (long) q.rows() * q.cols();
        if (n > Integer.MAX_VALUE - 8) {
            throw new UnsupportedOperationException("weight [" + q.rows() + " × " + q.cols() + "] is too large to "
                    + "export through a float[]");
        }
        float[] out = new float[(int) n];
        for (int r = 0; r < q.rows(); r++) {
            q.dequantizeRow(r, out, r * q.cols());
        }
        return out;
    }
}
