package dev.jlora.cli;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.data.Example;
import dev.jlora.engine.data.JsonlDataset;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.ModelWriter;
import dev.jlora.loaders.QuantPlan;
import dev.jlora.loaders.adapter.AdapterFiles;
import dev.jlora.loaders.safetensors.SafetensorsDtype;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code jlora merge MODEL --adapter PATH --out OUT [--to TYPE] [--quant Q] [--data FILE]}: W' = W + ΔW written as a
 * new model. ΔW is added to the dequantized base weights (what the adapter was trained against), then the result
 * is stored as {@code --to} or, by default, the base's own linear type: a quantized base is re-quantized, which
 * costs some quality, so the command measures it: eval loss with the adapter unmerged versus the merged file as
 * written, on {@code --data} or a short built-in text.
 */
@Command(name = "merge", mixinStandardHelpOptions = true,
        description = {"Merge a LoRA adapter into its base model and write the merged model.",
                "OUT ending in .gguf gives a GGUF file, anything else a Hugging Face directory. A quantized base is",
                "merged in fp32 and re-quantized (to --to, default the base's type); the eval loss with the adapter",
                "unmerged and of the merged file as written is printed."})
final class MergeCommand implements Callable<Integer> {

    /** Used when no --data is given: enough text for a loss with some meaning on small models. */
    static final String BUILT_IN_TEXT = "Once upon a time, there was a little girl named Lily. She loved to play "
            + "outside in the park with her friends. One day, she saw a big red ball under a tree. She ran to get it, "
            + "and her mom smiled and said, \"Be careful, Lily!\" They played together until the sun went down.";

    @Parameters(index = "0", paramLabel = "MODEL", description = "base model: GGUF file, Hugging Face directory, or 'demo'")
    String model;

    @Option(names = "--adapter", required = true, paramLabel = "PATH", description = "LoRA adapter: PEFT directory, LoRA GGUF or .jlora")
    Path adapter;

    @Option(names = "--out", required = true, paramLabel = "OUT", description = "output: FILE.gguf or a directory (Hugging Face)")
    Path out;

    @Option(names = "--to", paramLabel = "TYPE", description = "storage of the merged linear weights (f32, f16, bf16, q8_0, q4_k, …); default: the base's")
    String to;

    @Option(names = "--quant", paramLabel = "Q", description = "quantize the base at load as it was for training (as 'jlora train --quant')")
    String quant;

    @Option(names = "--data", paramLabel = "FILE", description = "JSONL data for the before/after eval loss (default: a short built-in text)")
    Path data;

    @Override
    public Integer call() throws Exception {
        Path basePath = ModelFiles.resolve(model);
        // a LongLoRA adapter's context extension goes into the merged model's config (rope scaling, context length)
        LlamaModel base = ModelFiles.withContextExtension(ModelLoader.load(basePath, quant == null
                ? ModelLoader.LoadOptions.DEFAULT : ModelLoader.LoadOptions.withQuant(quant)), adapter);
        TrainableAdapterSet adapters = AdapterFiles.load(adapter, base);
        QuantType baseType = base.weights().layers().getFirst().wq().type();
        QuantType target = to == null ? baseType : QuantPlan.parse(to);
        if (target == null) {
            target = QuantType.F32;
        }
        boolean gguf = out.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".gguf");
        LlamaModel merged = merge(base, adapters);
        if (gguf) {
            ModelWriter.writeGguf(merged, out, target);
        } else {
            // default for a directory: the base's float type, or F32 for a quantized base (safetensors holds no ggml blocks)
            QuantType hfType = to != null ? target : switch (baseType) {
                case F16, BF16 -> baseType;
                default -> QuantType.F32;
            };
            target = hfType;
            SafetensorsDtype dtype = switch (hfType) {
                case F32, F16, BF16 -> SafetensorsDtype.of(hfType);
                default -> throw new IllegalArgumentException("a Hugging Face directory holds f32, f16 or bf16 weights, "
                        + "not " + hfType + "; write a .gguf or pass --to f16");
            };
            ModelWriter.writeHf(merged, out, dtype);
        }
        System.out.printf(Locale.ROOT, "merged %d adapted modules into %s (%s linear weights; base had %s)%n",
                adapters.adapters().size(), out, gguf ? target : "safetensors " + target, baseType);

        List<Example> examples = data != null ? JsonlDataset.read(data, base.tokenizer())
                : List.of(JsonlDataset.example(Map.of("text", BUILT_IN_TEXT), base.tokenizer(), "built-in text"));
        var warn = (java.util.function.Consumer<String>) msg -> System.err.println("warning: " + msg);
        var before = Evaluation.evaluate(ModelFiles.withTrainedBase(base, adapters), adapters, examples, warn);
        LlamaModel written = ModelLoader.load(out);
        var after = Evaluation.evaluate(written, AdapterSet.NONE, examples, warn);
        System.out.printf(Locale.ROOT, "eval on %s (%d tokens):%n", data == null ? "built-in text" : data, before.tokens());
        System.out.printf(Locale.ROOT, "  unmerged adapter:      mean NLL %.6f  perplexity %.4f%n", before.meanNll(), before.perplexity());
        System.out.printf(Locale.ROOT, "  merged (as written):   mean NLL %.6f  perplexity %.4f%n", after.meanNll(), after.perplexity());
        System.out.printf(Locale.ROOT, "  delta:                 %+.6f nats (%+.3f%% perplexity)%n", after.meanNll() - before.meanNll(),
                100 * (after.perplexity() / before.perplexity() - 1));
        return 0;
    }

    /**
     * The base with W + ΔW (fp32) in every adapted linear layer and the base tensors the adapter trained in full
     * (embedding, norms, head) replaced by their trained values; other weights are shared with {@code base}.
     */
    static LlamaModel merge(LlamaModel base, TrainableAdapterSet adapters) {
        LlamaWeights w = ModelFiles.withTrainedBase(base, adapters).weights();
        var layers = new ArrayList<LlamaWeights.Layer>();
        for (int l = 0; l < w.layers().size(); l++) {
            LlamaWeights.Layer L = w.layers().get(l);
            QuantMatrix[] m = new QuantMatrix[Target.values().length];
            for (Target t : Target.values()) {
                QuantMatrix q = TrainableAdapterSet.baseWeight(L, t);
                TrainableAdapter a = adapters.get(l, t);
                m[t.ordinal()] = a == null ? q : mergeOne(q, a);
            }
            layers.add(new LlamaWeights.Layer(L.attnNorm(), m[Target.Q.ordinal()], m[Target.K.ordinal()],
                    m[Target.V.ordinal()], m[Target.O.ordinal()], prunedBias(L.bq(), adapters.get(l, Target.Q)),
                    prunedBias(L.bk(), adapters.get(l, Target.K)), prunedBias(L.bv(), adapters.get(l, Target.V)),
                    L.ffnNorm(),
                    m[Target.GATE.ordinal()], m[Target.UP.ordinal()], m[Target.DOWN.ordinal()]));
        }
        var weights = new LlamaWeights(w.tokenEmbedding(), layers, w.finalNorm(), w.output());
        return new LlamaModel(base.config(), weights, base.tokenizer());
    }

    /** A q/k/v bias with the rows a LoRAPrune mask pruned set to 0 (the unmerged layer zeroes its whole output row). */
    private static float[] prunedBias(float[] bias, TrainableAdapter a) {
        if (bias == null || !(a instanceof dev.jlora.engine.adapter.LoraPruneAdapter p)) {
            return bias;
        }
        float[] out = bias.clone();
        for (int o = 0; o < out.length; o++) {
            out[o] *= p.mask()[o];
        }
        return out;
    }

    /** dequantize(W) + ΔW as an fp32 matrix. */
    static QuantMatrix mergeOne(QuantMatrix q, TrainableAdapter a) {
        int rows = q.rows(), cols = q.cols();
        float[] dense = new float[Math.multiplyExact(rows, cols)];
        for (int r = 0; r < rows; r++) {
            q.dequantizeRow(r, dense, r * cols);
        }
        a.mergeInto(dense);
        return QuantType.F32.quantize(dense, rows, cols);
    }
}
