package dev.jlora.cli;

import dev.jlora.engine.adapter.AdaptedModel;
import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Requantizer;
import dev.jlora.engine.backend.BackendWeights;
import dev.jlora.engine.backend.Backends;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.adapter.TrainableBase;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.dynamics.TrainingMethods;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.optim.LrSchedule;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.engine.train.FedSb;
import dev.jlora.engine.train.InitBatches;
import dev.jlora.engine.train.LossPlot;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.train.Trainer;
import dev.jlora.engine.train.TrainingHook;
import dev.jlora.loaders.adapter.AdapterFiles;
import dev.jlora.loaders.io.AtomicFile;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code jlora train MODEL --data FILE.jsonl --out DIR}: LoRA fine-tuning with checkpoints and resume. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Fine-tune a LoRA adapter on a JSONL dataset ({\"text\"}, {\"prompt\",\"completion\"} or "
                + "{\"messages\"} lines).",
                "Writes DIR/adapter.jlora, DIR/metrics.jsonl, DIR/checkpoints/ and a loss plot DIR/loss.svg (training "
                        + "loss per step, eval loss; --no-plot skips it); Ctrl-C saves a checkpoint, --resume "
                        + "continues from the newest one."})
final class TrainCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL", description = "GGUF file, Hugging Face directory, or 'demo'")
    String model;

    @Option(names = "--data", required = true, paramLabel = "FILE.jsonl", description = "Training data (JSON Lines)")
    Path data;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder")
    Path out;

    @Option(names = "--method", defaultValue = "lora",
            description = "Adapter method: lora, dora, vera, nola, loldu, bone, mora, randlora, flora, sora, salt, kasa, full, "
                    + "hydra, mos, adalora, dylora, increlora, codyra, triadaptlora, "
                    + "lorasb, loraprune (with --targets all-linear), loram (default: ${DEFAULT-VALUE})")
    String method;

    @Option(names = "--init", defaultValue = "kaiming",
            description = "Initialisation (lora, dora): kaiming, gaussian, pissa, pissa_niter_N, olora; from --data (lora): "
                    + "eva (activation SVD, ranks redistributed), lora-ga (gradient SVD) (default: ${DEFAULT-VALUE})")
    String init;

    @Option(names = "--method-arg", paramLabel = "KEY=VALUE",
            description = "Method hyper-parameter, repeatable (vera: d_initial, projection_prng_key; "
                    + "nola: num_basis_A, num_basis_B, basis_seed; randlora: projection_prng_key; "
                    + "bone: init_weights=bat; mora: mora_type=6; flora: flora_scale; "
                    + "sora: sparse_lambda, lambda_schedule, max_lambda, lambda_num; salt: r_lora; kasa: beta, gamma; "
                    + "mos: shards_per_vector, equivalent_rank, private_rank, router_seed; "
                    + "adalora: init_r, target_r, tinit, tfinal, deltaT, beta1, beta2, orth_reg_weight; "
                    + "dylora: frozen; increlora: init_r, max_r, target_r, top_h, incre_rank_num, init_warmup, "
                    + "incre_interval, beta1, beta2, orth_reg_weight; codyra: dense_fraction, max_kappa, lambda_num; "
                    + "triadaptlora: init_r, target_r, incre_rank_num, init_warmup, incre_interval, rank_growth, "
                    + "orth_reg_weight; "
                    + "loraprune: ratio, init_ratio, warmup_iters, cooldown_iters, prune_freq; "
                    + "loram: ratio, criterion (random, taylor), calibration_batches; "
                    + "--init eva: rho, tau, whiten, adjust_scaling_factors, init_batches; "
                    + "--init lora-ga: init_batches, stable_gamma)")
    Map<String, String> methodArgs = new LinkedHashMap<>();

    @Option(names = "--train-base", paramLabel = "PARTS", split = ",",
            description = "Also train these base tensors in full as fp32 copies (saved with the adapter, applied by "
                    + "merge): embed, norms, head")
    java.util.List<String> trainBase = java.util.List.of();

    @Option(names = "--dynamics", paramLabel = "NAME", split = ",",
            description = "Training dynamics, repeatable: loraplus, allora, lorapro, lisa, owlore, fira, flexora "
                    + "(docs/ADAPTERS.md)")
    java.util.List<String> dynamics = java.util.List.of();

    @Option(names = "--dynamics-arg", paramLabel = "KEY=VALUE",
            description = "Hyper-parameter of a --dynamics method, repeatable (loraplus: loraplus_lr_ratio; allora: "
                    + "allora_eta; lorapro: lorapro_optimizer; lisa: lisa_activated_layers, lisa_interval_steps; owlore: "
                    + "owlore_activated_layers, owlore_interval_steps, owlore_outlier_M, owlore_rank, …; fira: fira_rank, "
                    + "fira_update_gap, fira_alpha; flexora: flexora_search_steps, flexora_lr, flexora_val_batches, "
                    + "flexora_layers)")
    Map<String, String> dynamicsArgs = new LinkedHashMap<>();

    @Option(names = "--s2-attn-group", paramLabel = "G", defaultValue = "0",
            description = "LongLoRA shifted sparse attention in training: each query attends within its group of G "
                    + "tokens (G even, dividing --seq-len), half of the heads with groups shifted by G/2; evaluation "
                    + "and inference keep full attention; 0 = off (default)")
    int s2AttnGroup;

    @Option(names = "--rope-scale", paramLabel = "F", defaultValue = "1",
            description = "Context extension by position interpolation (linear RoPE scaling, LongLoRA): positions "
                    + "divided by F and the context length multiplied by F; saved with the adapter, applied by "
                    + "generate, eval and merge (default: ${DEFAULT-VALUE}, off)")
    float ropeScale;

    @Option(names = "--targets", defaultValue = "q,k,v,o", description = "Target modules: q,k,v,o,gate,up,down or all-linear (default: ${DEFAULT-VALUE})")
    String targets;

    @Option(names = "--rank", defaultValue = "8", description = "LoRA rank r (default: ${DEFAULT-VALUE})")
    int rank;

    @Option(names = "--alpha", defaultValue = "16", description = "LoRA alpha; scale alpha/r (default: ${DEFAULT-VALUE})")
    float alpha;

    @Option(names = "--dropout", defaultValue = "0.05", description = "Dropout on the adapter input (default: ${DEFAULT-VALUE})")
    float dropout;

    @Option(names = "--rs-lora", description = "Rank-stabilised scaling alpha/sqrt(r)")
    boolean rsLora;

    @Option(names = "--lr", defaultValue = "2e-4", description = "Peak learning rate (default: ${DEFAULT-VALUE})")
    float lr;

    @Option(names = "--schedule", defaultValue = "cosine", description = "constant, linear or cosine (default: ${DEFAULT-VALUE})")
    String schedule;

    @Option(names = "--warmup", defaultValue = "0", description = "Warmup steps (default: ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--optimizer", defaultValue = "adamw", description = "adamw or sgd (default: ${DEFAULT-VALUE})")
    String optimizer;

    @Option(names = "--weight-decay", defaultValue = "0", description = "Weight decay (default: ${DEFAULT-VALUE})")
    float weightDecay;

    @Option(names = "--momentum", defaultValue = "0.9", description = "SGD momentum (default: ${DEFAULT-VALUE})")
    float momentum;

    @Option(names = "--max-grad-norm", defaultValue = "1.0", description = "Gradient clipping; 0 = off (default: ${DEFAULT-VALUE})")
    float maxGradNorm;

    @Option(names = "--steps", defaultValue = "100", description = "Optimizer steps (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--batch-size", defaultValue = "4", description = "Sequences per micro-batch (default: ${DEFAULT-VALUE})")
    int batchSize;

    @Option(names = "--grad-accum", defaultValue = "1", description = "Micro-batches per step (default: ${DEFAULT-VALUE})")
    int gradAccum;

    @Option(names = "--seq-len", defaultValue = "256", description = "Tokens per packed sequence (default: ${DEFAULT-VALUE})")
    int seqLen;

    @Option(names = "--eval-fraction", defaultValue = "0.05", description = "Share of examples held out (default: ${DEFAULT-VALUE})")
    double evalFraction;

    @Option(names = "--eval-every", defaultValue = "0", description = "Evaluate every N steps; 0 = only at the end (default: ${DEFAULT-VALUE})")
    int evalEvery;

    @Option(names = "--checkpoint-every", defaultValue = "0", description = "Checkpoint every N steps; 0 = only at the end (default: ${DEFAULT-VALUE})")
    int checkpointEvery;

    @Option(names = "--activation-checkpointing", description = "Recompute block activations in backward (less memory)")
    boolean activationCheckpointing;

    @Option(names = "--deterministic",
            description = "Bit-reproducible training: scalar kernels in the training graph (slower), so a run resumed "
                    + "from a checkpoint gives exactly the losses and adapter of an uninterrupted one")
    boolean deterministic;

    @Option(names = "--max-bad-steps", defaultValue = "10",
            description = "Stop after this many consecutive steps with a non-finite loss or gradient (each is skipped); "
                    + "0 = never (default: ${DEFAULT-VALUE})")
    int maxBadSteps;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of init, data order and dropout (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--quant", paramLabel = "TYPE", description = "Quantize the frozen weights on load (e.g. Q4_0, Q8_0, NF4)")
    String quant;

    @picocli.CommandLine.Mixin
    QuantEmbeddingOption quantEmbeddings = new QuantEmbeddingOption();

    @picocli.CommandLine.Mixin
    MemoryOption memory = new MemoryOption();

    @Option(names = "--federated-clients", paramLabel = "N", defaultValue = "0",
            description = "Fed-SB (with --method lorasb): simulate N clients on round-robin shards of --data; each "
                    + "round every client trains --steps steps of R, the server averages the R (0 = off, default)")
    int federatedClients;

    @Option(names = "--federated-rounds", paramLabel = "K", defaultValue = "1",
            description = "Fed-SB rounds (default: ${DEFAULT-VALUE})")
    int federatedRounds;

    @Option(names = "--resume", description = "Continue from the newest checkpoint in --out")
    boolean resume;

    @Option(names = "--export", paramLabel = "FORMAT", split = ",",
            description = "Also write the adapter as peft (DIR/adapter-peft/) and/or gguf (DIR/adapter.gguf)")
    java.util.List<String> export = java.util.List.of();

    @Option(names = "--backend", paramLabel = "B", defaultValue = "java",
            description = "Compute backend for fp32 frozen weights: auto, java, openblas, ggml, cuda (default: ${DEFAULT-VALUE})")
    String backend;

    @Option(names = "--no-plot", description = "Do not write DIR/loss.svg")
    boolean noPlot;

    @Option(names = "--log-every", defaultValue = "1", description = "Print every N steps (default: ${DEFAULT-VALUE})")
    int logEvery;

    /** Set by {@link #call()} once the adapters exist: what {@link CompareRun} reports. */
    long trainableParameters = -1;

    @Override
    public Integer call() throws Exception {
        PrintStream o = System.out;
        Backends.Selection selected = Backends.select(backend);
        LlamaModel m = CliModels.load(model, quant, quantEmbeddings.enabled, memory.budget);
        if (ropeScale != 1f) {
            m = new LlamaModel(m.config().withLinearRopeScaling(ropeScale), m.weights(), m.tokenizer());
        }
        var lora = new LoraConfig(rank, alpha, dropout, rsLora, LoraConfig.parseTargets(targets));
        var params = new LinkedHashMap<String, String>(methodArgs);
        params.put("rank", Integer.toString(rank));
        params.put("alpha", Float.toString(alpha));
        params.put("dropout", Float.toString(dropout));
        params.put("rs_lora", Boolean.toString(rsLora));
        if (method.trim().equalsIgnoreCase("lorasb")) {
            params.putIfAbsent("init_lr", Float.toString(lr));   // LoRA-SB approximates the first step at this rate
        }
        Dataset ds = Dataset.load(data, m.tokenizer(), seqLen, evalFraction, seed);
        // LoRAM: LoRA trains on a pruned copy of the base and is saved recovered to the full shape.
        var loram = LoramTraining.is(method)
                ? LoramTraining.prune(m, params, init, trainBase, ds, batchSize, seed, o) : null;
        var loramArgs = params;
        if (loram != null) {
            LoramTraining.record(loram, out, resume);
            m = loram.prunedModel();
            params = LoramTraining.loraParams(params);
        }
        String adapterMethod = loram != null ? "lora" : method;
        // EVA, LoRA-GA and LoRA-SB read the first training batches (the ones training starts with) before it starts.
        InitBatches initData = AdapterMethods.needsData(adapterMethod, init) ? new InitBatches(m, ds, batchSize, seed) : null;
        boolean pretrained = method.equals("xlora") || method.equals("meteora")
                || method.equals("loramixer") && params.containsKey("adapters");
        AdaptedModel adapted = pretrained ? mixPretrained(m, params, lora.targets())
                : AdapterMethods.create(adapterMethod, init, params, m.weights(), lora.targets(), seed, Requantizer.DEFAULT,
                        initData);
        if (initData != null) {
            o.printf(Locale.ROOT, "init %s from %s: %s%n", method.trim().equalsIgnoreCase("lorasb") ? "lorasb" : init,
                    data, rankSummary(adapted.adapters(), m.config().nLayers(), lora.targets().size()));
        }
        if (!adapted.residuals().isEmpty()) {
            o.printf(Locale.ROOT, "init %s: %d base weights replaced by their residual (re-quantized, step-0 relative "
                    + "error at most %.2e)%n", init, adapted.residuals().size(), adapted.maxRelativeError());
            m = new LlamaModel(m.config(), adapted.weights(), m.tokenizer());
        }
        // After the residual init: the frozen weights training runs on are the (possibly replaced) ones.
        m = BackendWeights.onBackend(m, selected.backend());
        o.printf(Locale.ROOT, "backend %s: %d weight matrices on it (%s)%n", selected.backend().name(),
                BackendWeights.countOnBackend(m.weights()), selected.reason());
        var cfg = TrainConfig.builder().steps(steps).batchSize(batchSize).seqLen(seqLen).gradAccum(gradAccum)
                .optimizer(optimizer.toLowerCase(Locale.ROOT)).lr(lr).schedule(LrSchedule.Kind.parse(schedule))
                .warmupSteps(warmup).weightDecay(weightDecay).momentum(momentum).maxGradNorm(maxGradNorm)
                .evalEvery(evalEvery > 0 ? evalEvery : Math.max(1, steps)).checkpointEvery(checkpointEvery)
                .activationCheckpointing(activationCheckpointing).seed(seed).bitReproducible(deterministic).maxBadSteps(maxBadSteps)
                .s2AttnGroup(s2AttnGroup).build();
        TrainableAdapterSet adapters = adapted.adapters();
        var baseParts = TrainableBase.Part.parse(String.join(",", trainBase));
        if (!baseParts.isEmpty()) {
            adapters = adapters.withBase(TrainableBase.copyOf(m.weights(), baseParts));
        }
        trainableParameters = adapters.parameterCount();
        o.printf(Locale.ROOT, "model %s: %d layers, dim %d; %s (init %s) r=%d alpha=%s on %s: %,d trainable parameters%n",
                model, m.config().nLayers(), m.config().dim(), method, init, rank, alpha, lora.targets(),
                adapters.parameterCount());
        o.printf(Locale.ROOT, "data %s: %d training rows of %d tokens (%,d target tokens), %d held-out rows%n",
                data, ds.train().size(), seqLen, ds.trainTargets(), ds.eval().size());
        var formats = new java.util.ArrayList<AdapterFiles.Format>();
        for (String f : export) {
            formats.add(AdapterFiles.Format.parse(f.trim()));   // parse before training: a typo fails fast
            if (!baseParts.isEmpty() && formats.getLast() != AdapterFiles.Format.JLORA) {
                throw new IllegalArgumentException("--export " + f.trim() + " cannot hold the base tensors of "
                        + "--train-base (" + TrainableBase.Part.format(baseParts) + "): use jlora merge");
            }
            if (adapterMethod.equalsIgnoreCase("loraprune") && formats.getLast() != AdapterFiles.Format.JLORA) {
                throw new IllegalArgumentException("--export " + f.trim() + " cannot hold loraprune's structured "
                        + "pruning masks: keep the .jlora, or write the pruned model with jlora merge");
            }
        }
        var ctx = new TrainingMethods.Context(m, adapters, ds, cfg);
        var hooks = new java.util.ArrayList<>(TrainingMethods.forAdapterMethod(adapterMethod, params, ctx));
        hooks.addAll(TrainingMethods.create(dynamics, dynamicsArgs, ctx));
        if (!dynamics.isEmpty()) {
            o.printf("training dynamics: %s%n", String.join(", ", dynamics));
        }
        var meta = new LinkedHashMap<>(Map.of("base_model", model, "data", data.toString(), "init", init));
        if (ropeScale != 1f) {
            meta.put(AdapterFile.ROPE_SCALE_KEY, Float.toString(ropeScale));
        }
        if (s2AttnGroup > 0) {
            o.printf("LongLoRA S²-Attn in training: groups of %d tokens, half of the heads shifted by %d%n",
                    s2AttnGroup, s2AttnGroup / 2);
        }
        Path file = federatedClients > 0 ? federated(m, adapters, ds, cfg, meta, o, hooks)
                : run(m, adapters, ds, cfg, out, resume, meta, o, logEvery, !noPlot, hooks);
        TrainableAdapterSet saved = loram == null ? adapters
                : LoramTraining.recoverAndSave(loram, adapters, file, meta, loramArgs, o);
        if (!adapted.residuals().isEmpty()) {
            // The trained adapter is relative to the residual base; save it as a delta on the original weights.
            saved = adapted.deltaOnOriginal();
            if (adapters.base() != null) {
                saved = saved.withBase(adapters.base());
            }
            AdapterFile.save(file, saved, meta);
            if (method.equals("kasa")) {
                o.printf("converted to a delta on the original weights (minus the removed singular components): %s%n", file);
            } else {
                o.printf("converted to a rank-%d LoRA delta on the original weights (PEFT's PiSSA/OLoRA conversion): %s%n",
                        2 * rank, file);
            }
        }
        for (var f : formats) {
            Path p = switch (f) {
                case PEFT -> out.resolve("adapter-peft");
                case GGUF -> out.resolve("adapter.gguf");
                case JLORA -> out.resolve("adapter.jlora");
            };
            if (f != AdapterFiles.Format.JLORA) {
                AdapterFiles.save(p, f, saved, (loram != null ? loram.fullModel() : m).config(), model);
                o.printf("exported %s adapter to %s%n", f.name().toLowerCase(Locale.ROOT), p);
            }
        }
        return 0;
    }

    /** Fed-SB over --federated-clients shards for --federated-rounds rounds; saves DIR/adapter.jlora (R̄). */
    private Path federated(LlamaModel m, TrainableAdapterSet adapters, Dataset ds, TrainConfig cfg,
                           Map<String, String> meta, PrintStream o, java.util.List<TrainingHook> hooks) throws Exception {
        if (!method.trim().equalsIgnoreCase("lorasb")) {
            throw new IllegalArgumentException("--federated-clients needs --method lorasb (Fed-SB averages LoRA-SB's R)");
        }
        if (resume || !hooks.isEmpty()) {
            throw new IllegalArgumentException("--federated-clients cannot be combined with --resume or --dynamics");
        }
        var shards = FedSb.shards(ds, federatedClients);
        o.printf(Locale.ROOT, "Fed-SB: %d clients (%s training rows), %d rounds of %d local steps; each client sends "
                + "%,d values per round%n", federatedClients,
                shards.stream().map(d -> Integer.toString(d.train().size())).collect(java.util.stream.Collectors.joining("/")),
                federatedRounds, cfg.steps(), adapters.parameterCount());
        FedSb.train(m, adapters, shards, cfg, federatedRounds, out.resolve("federated"), round ->
                o.printf(Locale.ROOT, "round %d/%d: client losses %s, mean %.4f%n", round.round(), federatedRounds,
                        round.clientLosses().stream().map(l -> String.format(Locale.ROOT, "%.4f", l))
                                .collect(java.util.stream.Collectors.joining(" ")), round.meanLoss()));
        var all = new LinkedHashMap<>(meta);
        all.put("federated_clients", Integer.toString(federatedClients));
        all.put("federated_rounds", Integer.toString(federatedRounds));
        Path file = out.resolve("adapter.jlora");
        AdapterFile.save(file, adapters, all);
        o.printf("Fed-SB done; aggregated adapter saved to %s%n", file);
        return file;
    }

    /** "ranks 2..14 over 8 of 8 layers (sum 64)": how a data-driven init spread the ranks. */
    static String rankSummary(TrainableAdapterSet adapters, int layers, int targetsPerLayer) {
        int min = Integer.MAX_VALUE, max = 0, sum = 0, n = 0;
        for (var a : adapters.adapters()) {
            String r = a.config().get("rank");
            if (r != null) {
                int v = Integer.parseInt(r);
                min = Math.min(min, v);
                max = Math.max(max, v);
                sum += v;
                n++;
            }
        }
        if (n == 0) {
            return adapters.adapters().size() + " adapters";
        }
        return String.format(Locale.ROOT, "ranks %d..%d on %d of %d layers (sum %d)", min, max, n,
                layers * targetsPerLayer, sum);
    }

    /**
     * X-LoRA, MeteoRA and LoRA-Mixer's plug-and-play regime: the pre-trained LoRA adapters of {@code --method-arg
     * adapters=PATH,PATH} (any format --adapter reads), frozen and mixed by a new scaling head (AdapterMethods.xlora),
     * new gates (meteora) or new routers trained with the RSL (loramixer).
     */
    private AdaptedModel mixPretrained(LlamaModel m, Map<String, String> params,
                                       java.util.Set<dev.jlora.engine.adapter.Target> on) throws java.io.IOException {
        var known = new java.util.HashSet<>(AdapterMethods.method(method).keys().keySet());
        known.addAll(java.util.List.of("method", "rank", "alpha", "dropout", "rs_lora"));
        var p = new dev.jlora.engine.adapter.HyperParams("adapter method " + method, params).requireKnown(known);
        String files = p.str("adapters", "").trim();
        if (files.isEmpty()) {
            throw new IllegalArgumentException("--method " + method + " mixes pre-trained LoRA adapters: give them "
                    + "with --method-arg adapters=PATH,PATH (.jlora, PEFT directories or LoRA GGUF)");
        }
        var experts = new java.util.ArrayList<TrainableAdapterSet>();
        for (String f : files.split(",")) {
            experts.add(AdapterFiles.load(Path.of(f.trim()), m));
        }
        var set = switch (method) {
            case "xlora" -> AdapterMethods.xlora(m.weights(), on, experts, p.real("softmax_temperature", 1), seed);
            case "meteora" -> AdapterMethods.meteora(m.weights(), on, experts, p.integer("top_k", 2), seed);
            default -> AdapterMethods.loraMixer(m.weights(), on, experts, p.integer("top_k", 2), p.real("rsl_alpha", 0.01f),
                    p.real("rsl_lambda", 0.01f), seed);
        };
        return new AdaptedModel(m.weights(), set, java.util.List.of(), m.weights(), Map.of());
    }

    /** Trains (resuming if asked), saves DIR/adapter.jlora (and DIR/loss.svg if {@code plot}) and returns its path. */
    static Path run(LlamaModel m, TrainableAdapterSet adapters, Dataset ds, TrainConfig cfg, Path out, boolean resume,
                    Map<String, String> meta, PrintStream o, int logEvery, boolean plot,
                    java.util.List<TrainingHook> hooks) throws Exception {
        Files.createDirectories(out);
        var trainer = new Trainer(m, adapters, ds, cfg, out, hooks);
        if (resume) {
            Path ck = Trainer.latestCheckpoint(out);
            if (ck == null) {
                throw new IllegalArgumentException("--resume: no checkpoint under " + out.resolve("checkpoints"));
            }
            trainer.resume(ck);
            o.printf("resumed from %s at step %d%n", ck, trainer.step());
        }
        // Ctrl-C / SIGTERM: stop after the current step, let the loop checkpoint and this method save the adapter
        var done = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            trainer.requestStop();
            try {
                done.await(120, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "jlora-train-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        Path file = out.resolve("adapter.jlora");
        try {
            Trainer.Result r = trainer.train(new TrainProgress(o, logEvery));
            AdapterFile.save(file, adapters, meta);
            o.printf(Locale.ROOT, "%s after %d steps (%d skipped); adapter saved to %s%n",
                    r.stoppedEarly() ? "stopped (resume with --resume)" : "done", r.step(), r.skippedSteps(), file);
            if (plot) {
                try {
                    o.printf("loss plot: %s%n", writePlot(out, meta.getOrDefault("base_model", "")));
                } catch (java.io.IOException e) {
                    // The adapter is already saved: a plot that cannot be written is worth a warning, not a failed run.
                    o.printf("loss plot not written: %s%n", e.getMessage());
                }
            }
            o.flush();
        } finally {
            done.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running: it returns now that done is counted down
            }
        }
        return file;
    }

    /** Renders DIR/metrics.jsonl (the whole run, resumed parts included) to DIR/loss.svg, atomically. */
    static Path writePlot(Path out, String model) throws java.io.IOException {
        Path svg = out.resolve(LossPlot.FILE_NAME);
        String title = "jlora training loss: " + out.toAbsolutePath().normalize().getFileName()
                + (model.isEmpty() ? "" : " (" + model + ")");
        AtomicFile.writeString(svg, LossPlot.render(out.resolve("metrics.jsonl"), title));
        return svg;
    }
}
