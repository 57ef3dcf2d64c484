package dev.jlora.api;

import dev.jlora.engine.adapter.AdaptedModel;
import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Requantizer;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.dynamics.TrainingMethods;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.train.TrainListener;
import dev.jlora.engine.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Fine-tuning settings and their run: an adapter method (LoRA or a variant) on chosen linear layers of the frozen
 * base, trained on a JSONL dataset. The defaults are those of {@code jlora train} (see docs/CLI.md, which also
 * explains each setting); every setter returns this builder. Made by {@link Model#fineTune()}.
 *
 * <p>The dataset holds one JSON object per line: {@code {"text": …}}, {@code {"prompt": …, "completion": …}} (loss
 * on the completion only) or {@code {"messages": [{"role": …, "content": …}, …]}} (loss on assistant turns).
 */
public final class FineTune {
    private final LlamaModel model;
    private final String modelName;
    private Path data;
    private String method = "lora";
    private String init = "kaiming";
    private final Map<String, String> methodArgs = new LinkedHashMap<>();
    private String targets = "q,k,v,o";
    private int rank = 8;
    private float alpha = 16;
    private float dropout = 0.05f;
    /** TrainConfig's defaults are jlora train's: AdamW, lr 2e-4, cosine, clipping at 1.0, batch 4 × 256 tokens. */
    private final TrainConfig.Builder config = TrainConfig.builder();
    private int steps = 100;
    private int evalEvery;
    private long seed = 42;
    private double evalFraction = 0.05;
    private int seqLen = 256;
    private Consumer<TrainingProgress> onStep = p -> { };
    private EvalListener onEval = (step, loss, perplexity) -> { };

    /** Receives each evaluation on the held-out rows. */
    @FunctionalInterface
    public interface EvalListener {
        /**
         * Called after an evaluation, on the training thread.
         *
         * @param step       steps done
         * @param loss       mean held-out loss (nats per target token)
         * @param perplexity exp(loss)
         */
        void onEval(int step, double loss, double perplexity);
    }

    FineTune(LlamaModel model, String modelName) {
        this.model = model;
        this.modelName = modelName;
    }

    /**
     * The training data (required).
     *
     * @param jsonl a JSON Lines file
     * @return this
     */
    public FineTune data(Path jsonl) {
        this.data = jsonl;
        return this;
    }

    /**
     * The adapter method: {@code lora} (default), {@code dora}, {@code vera}, {@code nola}, {@code loldu},
     * {@code bone}, {@code mora}, {@code randlora}, … (the names of {@code jlora train --method}).
     *
     * @param name the method's name
     * @return this
     */
    public FineTune method(String name) {
        this.method = name;
        return this;
    }

    /**
     * A hyper-parameter of the method ({@code jlora train --method-arg key=value}), e.g. VeRA's {@code d_initial}.
     *
     * @param key   the key the method documents
     * @param value its value
     * @return this
     */
    public FineTune methodArg(String key, String value) {
        methodArgs.put(key, value);
        return this;
    }

    /**
     * How LoRA/DoRA factors start: {@code kaiming} (default), {@code gaussian}, {@code pissa}, {@code olora}.
     *
     * @param name the initialisation
     * @return this
     */
    public FineTune init(String name) {
        this.init = name;
        return this;
    }

    /**
     * The linear layers to adapt: a comma list of {@code q,k,v,o,gate,up,down} or {@code all-linear}.
     *
     * @param spec the targets (default {@code q,k,v,o})
     * @return this
     */
    public FineTune targets(String spec) {
        this.targets = spec;
        return this;
    }

    /**
     * The adapter rank r (default 8).
     *
     * @param r the rank
     * @return this
     */
    public FineTune rank(int r) {
        this.rank = r;
        return this;
    }

    /**
     * LoRA alpha: the update is scaled by alpha / r (default 16).
     *
     * @param alpha the scale numerator
     * @return this
     */
    public FineTune alpha(float alpha) {
        this.alpha = alpha;
        return this;
    }

    /**
     * Dropout on the adapter input during training (default 0.05).
     *
     * @param p the drop probability
     * @return this
     */
    public FineTune dropout(float p) {
        this.dropout = p;
        return this;
    }

    /**
     * Optimizer steps (default 100).
     *
     * @param n the number of steps
     * @return this
     */
    public FineTune steps(int n) {
        this.steps = n;
        config.steps(n);
        return this;
    }

    /**
     * Peak learning rate of AdamW (default 2e-4), reached after the warmup and decayed by a cosine schedule.
     *
     * @param lr the learning rate
     * @return this
     */
    public FineTune learningRate(float lr) {
        config.lr(lr);
        return this;
    }

    /**
     * Sequences per micro-batch (default 4).
     *
     * @param n the batch size
     * @return this
     */
    public FineTune batchSize(int n) {
        config.batchSize(n);
        return this;
    }

    /**
     * Tokens per packed training sequence (default 256).
     *
     * @param tokens the sequence length
     * @return this
     */
    public FineTune seqLen(int tokens) {
        this.seqLen = tokens;
        config.seqLen(tokens);
        return this;
    }

    /**
     * Share of the examples held out for evaluation (default 0.05).
     *
     * @param fraction between 0 and 1
     * @return this
     */
    public FineTune evalFraction(double fraction) {
        this.evalFraction = fraction;
        return this;
    }

    /**
     * Evaluate every n steps (default: only at the end).
     *
     * @param n steps between evaluations
     * @return this
     */
    public FineTune evalEvery(int n) {
        this.evalEvery = n;
        return this;
    }

    /**
     * Seed of the initialisation, the data order and dropout (default 42): the same seed gives the same run.
     *
     * @param seed the seed
     * @return this
     */
    public FineTune seed(long seed) {
        this.seed = seed;
        config.seed(seed);
        return this;
    }

    /**
     * Called after every optimizer step, on the training thread.
     *
     * @param listener the progress callback
     * @return this
     */
    public FineTune onStep(Consumer<TrainingProgress> listener) {
        this.onStep = Objects.requireNonNull(listener);
        return this;
    }

    /**
     * Called after every evaluation, on the training thread.
     *
     * @param listener the evaluation callback
     * @return this
     */
    public FineTune onEval(EvalListener listener) {
        this.onEval = Objects.requireNonNull(listener);
        return this;
    }

    /**
     * Trains. Writes {@code outDir/adapter.jlora}, {@code outDir/metrics.jsonl} (one JSON line per step and
     * evaluation) and {@code outDir/checkpoints/}; returns when the last step is done.
     *
     * @param outDir the output directory (created if missing)
     * @return the trained adapter, ready for {@link Model#withAdapter}
     * @throws IOException if the data cannot be read or the output not written
     * @throws IllegalArgumentException if a setting is invalid (the message names it)
     */
    public Adapter run(Path outDir) throws IOException {
        if (data == null) {
            throw new IllegalArgumentException("fineTune(): data(Path) is required");
        }
        var params = new LinkedHashMap<>(methodArgs);
        params.put("rank", Integer.toString(rank));
        params.put("alpha", Float.toString(alpha));
        params.put("dropout", Float.toString(dropout));
        var lora = new LoraConfig(rank, alpha, dropout, false, LoraConfig.parseTargets(targets));
        AdaptedModel adapted = AdapterMethods.create(method, init, params, model.weights(), lora.targets(), seed,
                Requantizer.DEFAULT);
        LlamaModel base = adapted.residuals().isEmpty() ? model
                : new LlamaModel(model.config(), adapted.weights(), model.tokenizer());
        TrainConfig cfg = config.evalEvery(evalEvery > 0 ? evalEvery : Math.max(1, steps)).build();
        Dataset ds = Dataset.load(data, base.tokenizer(), seqLen, evalFraction, seed);
        TrainableAdapterSet adapters = adapted.adapters();
        var ctx = new TrainingMethods.Context(base, adapters, ds, cfg);
        var hooks = new ArrayList<>(TrainingMethods.forAdapterMethod(method, params, ctx));
        Files.createDirectories(outDir);
        new Trainer(base, adapters, ds, cfg, outDir, hooks).train(new TrainListener() {
            @Override
            public void onStep(TrainListener.Step s) {
                onStep.accept(new TrainingProgress(s.step(), s.totalSteps(), s.loss(), s.lr(), s.gradNorm(),
                        s.tokensPerSecond(), s.etaSeconds(), s.skipped()));
            }

            @Override
            public void onEval(int step, double loss, double perplexity) {
                onEval.onEval(step, loss, perplexity);
            }
        });
        // A residual init (PiSSA, OLoRA) trained against a modified base: save the delta on the original weights.
        TrainableAdapterSet saved = adapted.residuals().isEmpty() ? adapters : adapted.deltaOnOriginal();
        var adapter = new Adapter(saved, model.config(), meta());
        adapter.save(outDir.resolve("adapter.jlora"));
        return adapter;
    }

    /** Metadata written with the adapter, as {@code jlora train} does. */
    private Map<String, String> meta() {
        return Map.of("base_model", modelName, "data", String.valueOf(data), "init", init);
    }
}
