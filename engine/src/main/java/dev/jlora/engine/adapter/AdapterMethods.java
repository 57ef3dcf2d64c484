package dev.jlora.engine.adapter;

import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.quant.QuantMatrix;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * The adapter methods by name, for {@code jlora train --method M --init I} and for loading adapter files: each method
 * turns hyper-parameters given as strings (PEFT's names where PEFT has the method) into a factory. The same keys are
 * what the adapters write into {@link TrainableAdapter#config()}, so a saved file's metadata rebuilds its adapters.
 *
 * <p>Common keys, accepted by every method (a method ignores those it has no use for, so a CLI can always pass its
 * flags): {@code rank}, {@code alpha}, {@code dropout}, {@code rs_lora}. Method keys: VeRA {@code d_initial},
 * {@code projection_prng_key}; NOLA {@code num_basis_A}, {@code num_basis_B}, {@code basis_seed}; RandLoRA
 * {@code projection_prng_key}; Bone {@code init_weights} (true or bat); MoRA {@code mora_type} (1 or 6); FLoRA
 * {@code flora_scale}; SoRA {@code sparse_lambda}, {@code lambda_schedule}, {@code max_lambda}, {@code lambda_num}
 * (read by its training hook); SALT {@code r_lora}; KaSA {@code beta}, {@code gamma} (its hook) and
 * {@code kasa_base} (written by the adapter: truncated or original); MoS {@code shards_per_vector}, {@code equivalent_rank}, {@code private_rank},
 * {@code router_seed}; mixtures of LoRA experts (LoRAMoE, MoLA, SMoRA, DynMoLE, LoRA-Mixer) their routing keys, listed
 * in {@link #methods()}; the rank-adaptive methods (adalora, dylora, increlora, codyra, triadaptlora) theirs, listed there too.
 * The data-driven inits add theirs ({@link #DATA_INITS}); saved files may carry a {@link RankPattern} (EVA).
 * Any other key is an error naming the keys the method knows.
 */
public final class AdapterMethods {
    private AdapterMethods() {}

    private static final Set<String> COMMON = Set.of("method", "rank", "alpha", "dropout", "rs_lora");

    /** One method: its description, its own keys with defaults, and what {@code --init} values it accepts. */
    public record Method(String name, String description, Map<String, String> keys, boolean acceptsInit) {}

    private static final Map<String, Method> METHODS = new LinkedHashMap<>();

    /** The keys of LoRAPrune's schedule (its hook reads them; the adapters carry them in their config). */
    public static final Map<String, String> LORAPRUNE_KEYS = ordered("ratio", "0.5", "init_ratio", "0",
            "warmup_iters", "0.1", "cooldown_iters", "0.1", "prune_freq", "10");

    static {
        add(new Method("lora", "LoRA (Hu et al. 2021); rs_lora=true for rsLoRA (Kalajdzievski 2023)", Map.of(), true));
        add(new Method("dora", "DoRA (Liu et al. 2024): magnitude and LoRA-updated direction", Map.of(), true));
        add(new Method("vera", "VeRA (Kopiczko et al. 2024): shared frozen random A, B; trains vectors d, b",
                Map.of("d_initial", "0.1", "projection_prng_key", "0"), false));
        add(new Method("nola", "NOLA (Koohpayegani et al. 2024): A, B as combinations of frozen random bases",
                Map.of("num_basis_A", "64", "num_basis_B", "64", "basis_seed", "0"), false));
        add(new Method("loldu", "LoLDU (Shi et al. 2024): LDU of W, trains a diagonal and a scale", Map.of(), false));
        add(new Method("bone", "Bone (Kang 2024): one r×OC block shared by all r-column groups of W; "
                + "init_weights=bat for the block-affine form ΔW_ij = W_ij·b_i + b_i", Map.of("init_weights", "true"), false));
        add(new Method("mora", "MoRA (Jiang et al. 2024): square r̂×r̂ matrix between input compression and "
                + "output decompression; mora_type=1 sharing, 6 RoPE rotation", Map.of("mora_type", "1"), false));
        add(new Method("randlora", "RandLoRA (Albert et al. 2025): full-rank sum of shared random bases with trainable "
                + "diagonals", Map.of("projection_prng_key", "0"), false));
        add(new Method("adalora", "AdaLoRA (Zhang et al. 2023): P·Λ·Q with importance-based budget allocation "
                + "from init_r (default: rank) down to target_r per module",
                ordered("init_r", "(rank)", "target_r", "8", "tinit", "0", "tfinal", "0", "deltaT", "1",
                        "beta1", "0.85", "beta2", "0.85", "orth_reg_weight", "0.5"), false));
        add(new Method("dylora", "DyLoRA (Valipour et al. 2023): each step trains a random truncated rank b ≤ rank, so "
                + "any truncation works after training", ordered("frozen", "false"), false));
        add(new Method("increlora", "IncreLoRA (Zhang et al. 2023): starts at init_r and adds ranks to the most "
                + "important modules up to max_r", ordered("init_r", "1", "max_r", "(rank)", "target_r", "4",
                        "top_h", "(modules/4)", "incre_rank_num", "(target_r/2)", "init_warmup", "0", "incre_interval", "1",
                        "beta1", "0.85", "beta2", "0.85", "orth_reg_weight", "0.1"), false));
        add(new Method("triadaptlora", "TriAdaptLoRA (Liang et al. 2025): ΔW = s·B·C·A with C split into block-lower and "
                + "block-upper triangles; ranks grow from init_r where the normalised ‖C‖_F rose most, by a linear or "
                + "exponential threshold schedule, towards target_r per module on average",
                ordered("init_r", "1", "target_r", "(rank/2)", "incre_rank_num", "(target_r/2)", "init_warmup", "0",
                        "incre_interval", "1", "rank_growth", "linear", "orth_reg_weight", "0.5"), false));
        add(new Method("codyra", "CoDyRA (Lu et al. 2024): per-component gates sparsified by a proximal L1 step; "
                + "the rank is what survives", ordered("dense_fraction", "0.5", "max_kappa", "0.0007",
                        "lambda_num", "50"), false));
        add(new Method("loramoe", "LoRAMoE (Dou et al. 2023): soft-routed LoRA experts with the localized balancing "
                + "constraint", Map.of("num_experts", "6", "blc_alpha", "0.1", "blc_weight", "0.1", "sample_type", "task"),
                false));
        add(new Method("mola", "MoLA (Gao et al. 2024): top-k LoRA experts, more experts in higher layers",
                Map.of("experts_per_layer", "2,4,6,8", "top_k", "2", "aux_loss_coef", "0"), false));
        add(new Method("smora", "SMoRA (Zhao et al. 2025): every rank an expert, top-k ranks per token, bias balancing",
                Map.of("top_k", "2", "bias_update_rate", "0.001"), false));
        add(new Method("dynmole", "DynMoLE (Li et al. 2025): Tsallis-entropy hybrid soft/top-p routing of LoRA experts",
                Map.of("num_experts", "8", "top_p", "0.75", "keep_top_k", "2", "tsallis_q", "1.1",
                        "entropy_threshold", "0.9", "aux_loss_coef", "0.001", "entropy_loss_coef", "0.01"), false));
        add(new Method("loramixer", "LoRA-Mixer (Li et al. 2025): hard-soft top-k routed LoRA experts inside the attention "
                + "projections (q,k,v,o only) with the Routing Specialization Loss α·Σ p̄·f̄ − λ·E[H(p)]",
                ordered("num_experts", "4", "top_k", "2", "rsl_alpha", "0.01", "rsl_lambda", "0.01",
                        "frozen_experts", "false", "adapters", ""), false));
        add(new Method("mixlora", "MixLoRA (Li et al. 2024): top-k mixture of FFN experts (frozen FFN + LoRA on gate/up/down "
                + "each) with load balancing; plain LoRA on attention targets; needs 'down' in --targets, not gate/up",
                Map.of("num_experts", "8", "top_k", "2", "aux_loss_coef", "0.01"), false));
        add(new Method("xlora", "X-LoRA (Buehler & Buehler 2024): frozen pre-trained LoRA adapters mixed per token and layer "
                + "by a scaling head on the hidden states of a scaling pass; adapters=FILE,FILE (jlora train)",
                Map.of("num_experts", "", "softmax_temperature", "1", "adapters", ""), false));
        add(new Method("meteora", "MeteoRA (Xu et al. 2024): frozen pre-trained task LoRA adapters with a trainable top-k "
                + "gate per linear, switching adapters per token; adapters=FILE,FILE (jlora train)",
                Map.of("num_experts", "", "top_k", "2", "adapters", ""), false));
        add(new Method("flora", "FLoRA (Si et al. 2024): Tucker core, ΔW = s·P_out·Gᵀ·P_inᵀ with a trainable r×r core G",
                Map.of("flora_scale", "1"), false));
        add(new Method("sora", "SoRA (Ding et al. 2023): LoRA with a gate vector pruned by proximal L1 steps (hook "
                + "'sora'); sparse_lambda, lambda_schedule, max_lambda, lambda_num", Map.of("sparse_lambda", "10",
                "lambda_schedule", "none", "max_lambda", "10", "lambda_num", "1"), false));
        add(new Method("salt", "SALT (Elsayed et al. 2025): scale and shift of the top-r singular values, low-rank "
                + "X·Y on the remaining block of Σ (full Jacobi SVD per layer)", Map.of("r_lora", "8"), false));
        add(new Method("kasa", "KaSA (Wang et al. 2024): base truncated by its r smallest singular components "
                + "(re-quantized), ΔW = s·ΔU·diag(ΔΣ)·ΔVᵀ with the hook 'kasa' adding beta·L2(ΔΣ) + gamma·orthogonality",
                Map.of("beta", "1e-4", "gamma", "1e-3", "kasa_base", KasaAdapter.TRUNCATED), false));
        add(new Method("hydra", "Hydra (Kim et al. 2023): parallel LoRA branch plus a sequential low-rank branch on "
                + "the frozen layer's output", Map.of(), false));
        add(new Method("mos", "MoS (Wang et al. 2024): A, B assembled from shards of pools shared across layers "
                + "(fixed random router, private shards)", Map.of("shards_per_vector", "2", "equivalent_rank", "4",
                "private_rank", "1", "router_seed", "0"), false));
        add(new Method(LoraPruneAdapter.METHOD, "LoRAPrune (Zhang et al. 2023): LoRA with structured pruning masks on "
                + "heads and FFN channels, found during training by the LoRA-guided criterion (hook 'loraprune'); "
                + "needs --targets all-linear", LORAPRUNE_KEYS, false));
        add(new Method("loram", "LoRAM (Zhang et al. 2025): train LoRA on a structurally pruned base (ratio, "
                + "criterion random|taylor), recover it to the full model's shape (jlora train); saved as lora",
                ordered("ratio", "0.5", "criterion", "random", "calibration_batches", "4"), false));
        add(new Method("full", "full-parameter training: a dense fp32 ΔW per adapted linear over the frozen "
                + "(quantized) base, for LISA/OwLore/Fira", Map.of(), false));
        add(new Method("lorasb", "LoRA-SB (Ponkshe et al. 2024): frozen B, A and a trainable r×r R, initialised from "
                + "the SVD of an approximated first full fine-tuning step (reads --data)", LoraSbInit.KEYS, false));
    }

    private static void add(Method m) {
        METHODS.put(m.name(), m);
    }

    /** Keys with defaults in the given order (help text lists them so). */
    private static Map<String, String> ordered(String... keyValues) {
        var m = new LinkedHashMap<String, String>();
        for (int i = 0; i < keyValues.length; i += 2) {
            m.put(keyValues[i], keyValues[i + 1]);
        }
        return java.util.Collections.unmodifiableMap(m);
    }

    /** The registered methods in a fixed order. */
    public static List<Method> methods() {
        return List.copyOf(METHODS.values());
    }

    public static Method method(String name) {
        Method m = METHODS.get(name.trim().toLowerCase(Locale.ROOT));
        if (m == null) {
            throw new IllegalArgumentException("unknown adapter method '" + name + "': expected one of " + METHODS.keySet());
        }
        return m;
    }

    private static HyperParams params(Method m, Map<String, String> values, Set<String> extraAllowed) {
        var known = new TreeSet<>(COMMON);
        known.addAll(m.keys().keySet());
        known.addAll(extraAllowed);
        return new HyperParams("adapter method " + m.name(), values).requireKnown(known);
    }

    /**
     * The factory of {@code method} with {@code init} ({@link AdapterInit#parse}) and hyper-parameters {@code values},
     * for a model with {@code weights} and adapters on {@code targets} (VeRA sizes its shared matrices from them).
     * The data-driven inits ({@link #DATA_INITS}) need {@link #factory(String, String, Map, LlamaWeights, Set, InitData,
     * long)}.
     */
    public static ResidualAdapterFactory factory(String method, String init, Map<String, String> values,
                                                 LlamaWeights weights, Set<Target> targets) {
        return factory(method, init, values, weights, targets, null, 0);
    }

    /**
     * The initialisations that read training data: {@code eva} (EVA, {@link EvaInit}) and {@code lora-ga} (LoRA-GA,
     * {@link LoraGaInit}), for LoRA; their keys are accepted as {@code --method-arg}s.
     */
    public static final Map<String, Map<String, String>> DATA_INITS = Map.of("eva", EvaInit.KEYS,
            "lora-ga", LoraGaInit.KEYS);

    /** The canonical name of a data-driven init ({@code lora_ga} is PEFT's spelling), or null for any other. */
    static String dataInit(String init) {
        String n = init.trim().toLowerCase(Locale.ROOT).replace('_', '-');
        return DATA_INITS.containsKey(n) ? n : null;
    }

    /** Whether {@code method} with {@code init} needs {@link InitData} (batches of the training data). */
    public static boolean needsData(String method, String init) {
        return dataInit(init) != null || method(method).name().equals("lorasb");
    }

    /**
     * As {@link #factory(String, String, Map, LlamaWeights, Set)}, with {@code data} for the initialisations that read
     * training data (null otherwise); {@code seed} drives their randomized SVDs.
     */
    public static ResidualAdapterFactory factory(String method, String init, Map<String, String> values,
                                                 LlamaWeights weights, Set<Target> targets, InitData data, long seed) {
        Method m = method(method);
        String dataInit = dataInit(init);
        if (m.name().equals("lorasb")) {
            HyperParams p = params(m, values, Set.of());
            if (dataInit != null || AdapterInit.parse(init) != RandomInit.KAIMING) {
                throw new IllegalArgumentException("adapter method lorasb has its own initialisation (from the "
                        + "training data); --init " + init + " does not apply");
            }
            if (data == null) {
                throw new IllegalArgumentException("adapter method lorasb initialises from training batches: no data "
                        + "was given");
            }
            return ResidualAdapterFactory.of(LoraSbInit.factory(weights, targets, data, p));
        }
        if (dataInit != null) {
            HyperParams p = params(m, values, DATA_INITS.get(dataInit).keySet());
            if (!m.name().equals("lora")) {
                throw new UnsupportedOperationException("--init " + dataInit + " with adapter method " + m.name()
                        + " is not implemented (lora only)");
            }
            if (data == null) {
                throw new IllegalArgumentException("--init " + dataInit + " reads training batches: no data was given");
            }
            LoraConfig cfg = p.lora(targets);
            return switch (dataInit) {
                case "eva" -> EvaInit.factory(EvaInit.compute(weights, targets, EvaInit.Config.of(p, cfg.rank()), data,
                        seed), cfg, p.bool("adjust_scaling_factors"));
                case "lora-ga" -> LoraGaInit.factory(WeightGradients.collect(weights, targets, data,
                        p.integer("init_batches", 8)), cfg, p.real("stable_gamma", 16));
                default -> throw new IllegalStateException("no factory for init " + dataInit);
            };
        }
        HyperParams p = params(m, values, Set.of());
        AdapterInit ai = AdapterInit.parse(init);
        if (!m.acceptsInit() && ai != RandomInit.KAIMING) {
            throw new IllegalArgumentException("adapter method " + m.name() + " has its own initialisation; --init "
                    + ai.name() + " applies to lora and dora only");
        }
        return switch (m.name()) {
            case "lora" -> ResidualAdapterFactory.lora(p.lora(targets), ai);
            case "dora" -> {
                LoraConfig cfg = p.lora(targets);
                if (ai.replacesBase()) {
                    // PiSSA/OLoRA: A, B from W; DoRA then sits on the stored residual with m = ‖W_res + s·B·A‖.
                    yield (layer, target, base, rnd) -> {
                        AdapterInit.Factors f = ai.init(base, cfg.rank(), cfg.scale(), rnd);
                        return new ResidualAdapterFactory.Created(null, f.residual(),
                                stored -> DoraAdapter.onResidual(stored, cfg, f.a(), f.b()));
                    };
                }
                yield (layer, target, base, rnd) -> new ResidualAdapterFactory.Created(
                        DoraAdapter.create(base, cfg, ai, rnd), null);
            }
            case "kasa" -> {
                int rank = p.integer("rank", 8);
                float alpha = p.real("alpha", 16), dropout = p.real("dropout", 0);
                yield (layer, target, base, rnd) -> KasaAdapter.truncate(base, rank, alpha, dropout, rnd);
            }
            default -> ResidualAdapterFactory.of(structural(m, p, weights, targets, true));
        };
    }

    /** Creates the adapters and, for PiSSA/OLoRA, the residual weights: what {@code jlora train} starts from. */
    public static AdaptedModel create(String method, String init, Map<String, String> values, LlamaWeights weights,
                                      Set<Target> targets, long seed, Requantizer requantizer) {
        return create(method, init, values, weights, targets, seed, requantizer, null);
    }

    /** As above, with {@code data} for the initialisations that read training data ({@link #needsData}). */
    public static AdaptedModel create(String method, String init, Map<String, String> values, LlamaWeights weights,
                                      Set<Target> targets, long seed, Requantizer requantizer, InitData data) {
        return AdaptedModel.create(weights, targets, factory(method, init, values, weights, targets, data, seed), seed,
                requantizer);
    }

    /**
     * For {@code AdapterFile.load(file, weights, AdapterMethods.loader(weights))}: turns a saved file's metadata into
     * the factory of empty adapters of the right shapes (their values then come from the file). Adapters trained from a
     * residual base (PiSSA, OLoRA, KaSA with {@code kasa_base=truncated}) are not deltas on the original weights; this
     * does not rebuild that base ({@code jlora train} saves them converted to deltas on the original).
     */
    public static Function<Map<String, String>, AdapterFactory> loader(LlamaWeights weights) {
        return meta -> {
            String name = meta.get("method");
            if (name == null) {
                throw new IllegalArgumentException("adapter metadata has no 'method'");
            }
            Method m = method(name);
            Set<Target> targets = LoraConfig.parseTargets(meta.getOrDefault("targets", "all-linear"));
            var own = new LinkedHashMap<String, String>();
            for (var e : meta.entrySet()) {
                if (COMMON.contains(e.getKey()) || m.keys().containsKey(e.getKey())) {
                    own.put(e.getKey(), e.getValue());
                }
            }
            HyperParams p = params(m, own, Set.of());
            RankPattern pattern = RankPattern.parse(meta);
            if (!pattern.isEmpty() && !m.name().equals("lora") && !m.name().equals("dora")) {
                throw new IllegalArgumentException("adapter metadata: rank_pattern/alpha_pattern are only supported for "
                        + "lora and dora, not " + m.name());
            }
            return switch (m.name()) {
                case "lora" -> {
                    LoraConfig cfg = p.lora(targets);
                    yield (layer, target, base, rnd) -> {
                        int r = pattern.rank(layer, target, cfg.rank());
                        return r == 0 ? null : new LoraAdapter(base.cols(), base.rows(), r,
                                pattern.alpha(layer, target, cfg.alpha()), cfg.dropout(), cfg.rsLora());
                    };
                }
                case "dora" -> {
                    LoraConfig cfg = p.lora(targets);
                    yield (layer, target, base, rnd) -> {
                        int r = pattern.rank(layer, target, cfg.rank());
                        return r == 0 ? null : new DoraAdapter(base, r, pattern.alpha(layer, target, cfg.alpha()),
                                cfg.dropout(), cfg.rsLora());
                    };
                }
                default -> structural(m, p, weights, targets, false);
            };
        };
    }

    /** {largest IC, largest OC} over the adapted layers: the size of shared random matrices (VeRA, RandLoRA). */
    private static int[] maxShape(LlamaWeights weights, Set<Target> targets) {
        int maxIn = 0, maxOut = 0;
        for (LlamaWeights.Layer layer : weights.layers()) {
            for (Target t : targets) {
                QuantMatrix w = TrainableAdapterSet.baseWeight(layer, t);
                maxIn = Math.max(maxIn, w.cols());
                maxOut = Math.max(maxOut, w.rows());
            }
        }
        return new int[] {maxIn, maxOut};
    }

    /**
     * The rank-adaptive methods: one {@link RankMaskedAdapter} per module, at its storage (maximum) rank; the method's
     * hook ({@code dev.jlora.engine.dynamics}) allocates the ranks. Their own keys go into the adapter's config.
     */
    private static AdapterFactory rankAdaptive(Method m, HyperParams p, int rank, float dropout, boolean init) {
        var own = ownKeys(m, p);
        float alpha = p.real("alpha", 16);
        return switch (m.name()) {
            case "adalora" -> {
                int initR = p.integer("init_r", rank);
                yield (layer, target, base, rnd) -> rankMasked(m, base, initR, alpha, dropout, true, 1e-5f, own,
                        init ? RankMaskedAdapter.Init.SVD : null, rnd);
            }
            case "dylora" -> (layer, target, base, rnd) -> rankMasked(m, base, rank, alpha, dropout, false, 0, own,
                    init ? RankMaskedAdapter.Init.LORA : null, rnd);
            case "increlora" -> {
                int maxR = p.integer("max_r", rank);
                yield (layer, target, base, rnd) -> rankMasked(m, base, maxR, alpha, dropout, true, 1e-5f, own,
                        init ? RankMaskedAdapter.Init.SVD : null, rnd);
            }
            // CoDyRA's codyra_Linear has no alpha/r scale (lora_scaling = 1): alpha = ranknum = rank gives s = 1.
            case "codyra" -> (layer, target, base, rnd) -> rankMasked(m, base, rank, rank, dropout, true, 0, own,
                    init ? RankMaskedAdapter.Init.GATED : null, rnd);
            default -> throw new IllegalStateException("not a rank-adaptive method: " + m.name());
        };
    }

    /** The method's own keys to write into the adapters' config: given values, and defaults that are not derived. */
    private static Map<String, String> ownKeys(Method m, HyperParams p) {
        var own = new LinkedHashMap<String, String>();
        for (var k : m.keys().entrySet()) {
            String given = p.values().get(k.getKey());
            if (given != null || !k.getValue().startsWith("(")) {   // "(rank)"-style defaults are derived, not stored
                own.put(k.getKey(), given != null ? given : k.getValue());
            }
        }
        return own;
    }

    /** TriAdaptLoRA: storage at {@code rank}, {@code init_r} components in use; its hook grows them. */
    private static AdapterFactory triAdapt(Method m, HyperParams p, int rank, float dropout, boolean init) {
        var own = ownKeys(m, p);
        float alpha = p.real("alpha", 16);
        int initR = p.integer("init_r", 1);
        return (layer, target, base, rnd) -> {
            var ad = new TriAdaptLoraAdapter(base.cols(), base.rows(), rank, initR, alpha, dropout, own);
            return init ? ad.init(rnd) : ad;
        };
    }

    private static RankMaskedAdapter rankMasked(Method m, QuantMatrix base, int rank, float alpha, float dropout,
                                                boolean withE, float eps, Map<String, String> own,
                                                RankMaskedAdapter.Init init, java.util.SplittableRandom rnd) {
        var ad = new RankMaskedAdapter(m.name(), base.cols(), base.rows(), rank, alpha, dropout, withE, eps, own);
        return init == null ? ad : ad.init(init, rnd);
    }

    /**
     * MoS: one {@link MosAdapter.Pools} per target, made when the target's first layer is created (its random
     * stream initialises the public A shards) and shared by the later layers. A factory therefore belongs to one
     * adapter set: {@link #factory} and {@link #loader} make a new one each call.
     */
    private static AdapterFactory mos(LoraConfig cfg, HyperParams p, int layers, boolean init) {
        int shards = p.integer("shards_per_vector", 2), equivalent = p.integer("equivalent_rank", 4);
        int priv = p.integer("private_rank", 1);
        long routerSeed = p.longValue("router_seed", 0);
        var pools = new java.util.EnumMap<Target, MosAdapter.Pools>(Target.class);
        return (layer, target, base, rnd) -> {
            MosAdapter.Pools pool = pools.get(target);
            if (pool == null) {
                pool = new MosAdapter.Pools(target.hfName(), layers, base.cols(), base.rows(), cfg.rank(), shards,
                        equivalent, priv, routerSeed);
                if (init) {
                    pool.initialise(rnd);
                }
                pools.put(target, pool);
            }
            return init
                    ? MosAdapter.create(pool, layer, cfg.alpha(), cfg.dropout(), cfg.rsLora(), rnd)
                    : new MosAdapter(pool, layer, cfg.alpha(), cfg.dropout(), cfg.rsLora());
        };
    }

    /** The mixtures of LoRA experts ({@link LoraMixture}); {@code init} draws router and experts, else empty. */
    private static AdapterFactory mixture(String name, HyperParams p, int rank, float dropout, int layers, boolean init) {
        float alpha = p.real("alpha", 16);
        return (layer, target, base, rnd) -> {
            int IC = base.cols(), OC = base.rows();
            LoraMixture a = switch (name) {
                case "loramoe" -> new LoraMoeAdapter(IC, OC, rank, p.integer("num_experts", 6), alpha, dropout,
                        p.real("blc_alpha", 0.1f), p.real("blc_weight", 0.1f), p.str("sample_type", "task"));
                case "mola" -> {
                    String pattern = p.str("experts_per_layer", "2,4,6,8");
                    yield new MolaAdapter(IC, OC, rank, MolaAdapter.expertsOfLayer(pattern, layer, layers), alpha,
                            dropout, p.integer("top_k", 2), p.real("aux_loss_coef", 0), pattern);
                }
                case "smora" -> new SmoraAdapter(IC, OC, rank, alpha, dropout, p.integer("top_k", 2),
                        p.real("bias_update_rate", 0.001f));
                case "dynmole" -> new DynMoleAdapter(IC, OC, rank, p.integer("num_experts", 8), alpha, dropout,
                        p.real("top_p", 0.75f), p.integer("keep_top_k", 2), p.real("tsallis_q", 1.1f),
                        p.real("entropy_threshold", 0.9f), p.real("aux_loss_coef", 0.001f),
                        p.real("entropy_loss_coef", 0.01f));
                case "loramixer" -> {
                    boolean frozen = p.bool("frozen_experts");
                    if (frozen && init) {
                        throw new IllegalArgumentException("loramixer with frozen_experts routes pre-trained LoRA "
                                + "adapters: give them with --method-arg adapters=FILE,FILE (jlora train) or use "
                                + "AdapterMethods.loraMixer(...) from Java");
                    }
                    yield new LoraMixerAdapter(IC, OC, rank, p.integer("num_experts", 4), alpha, dropout,
                            p.integer("top_k", 2), p.real("rsl_alpha", 0.01f), p.real("rsl_lambda", 0.01f), frozen);
                }
                default -> throw new IllegalStateException("no mixture named " + name);
            };
            if (init) {
                a.initialize(rnd);
            }
            return a;
        };
    }

    /**
     * X-LoRA over {@code experts}, LoRA adapter sets of the same model (each adapted (layer, target) of the result
     * mixes every expert's LoRA there; an expert without that target counts as zero), with a fresh scaling head drawn
     * from {@code seed}. The experts are copied and frozen; only the head trains (see {@link XLoraModel}).
     */
    public static TrainableAdapterSet xlora(LlamaWeights weights, Set<Target> targets, List<TrainableAdapterSet> experts,
                                            float temperature, long seed) {
        int rank = loraRank(experts, "xlora");
        var model = new XLoraModel(weights.layers().size(), weights.finalNorm().length, experts.size(), temperature);
        model.initialize(new SplittableRandom(seed));
        return TrainableAdapterSet.create(weights, targets, xloraFactory(model, rank, targets, experts), seed);
    }

    /**
     * MeteoRA over {@code adapters}, LoRA adapter sets of the same model (an adapter without some (layer, target) counts
     * as zero there), with new gates drawn from {@code seed}; the adapters are copied and frozen.
     */
    public static TrainableAdapterSet meteora(LlamaWeights weights, Set<Target> targets, List<TrainableAdapterSet> adapters,
                                              int topK, long seed) {
        int rank = loraRank(adapters, "meteora");
        AdapterFactory f = (layer, target, base, rnd) -> {
            var m = new MeteoraAdapter(base.cols(), base.rows(), rank, adapters.size(), topK);
            m.initializeGate(rnd);
            for (int a = 0; a < adapters.size(); a++) {
                if (adapters.get(a).get(layer, target) instanceof LoraAdapter l) {
                    m.setAdapter(a, l);
                }
            }
            return m;
        };
        return TrainableAdapterSet.create(weights, targets, f, seed);
    }

    /**
     * LoRA-Mixer's plug-and-play regime over {@code adapters}, LoRA adapter sets of the same model (an adapter without
     * some (layer, target) counts as zero there), on the attention projections in {@code targets}: the adapters are
     * copied and frozen as the experts, new routers N(0, 0.02²) drawn from {@code seed} train with the RSL.
     */
    public static TrainableAdapterSet loraMixer(LlamaWeights weights, Set<Target> targets, List<TrainableAdapterSet> adapters,
                                                int topK, float rslAlpha, float rslLambda, long seed) {
        LoraMixerAdapter.checkTargets(targets);
        int rank = loraRank(adapters, "loramixer");
        AdapterFactory f = (layer, target, base, rnd) -> {
            var m = new LoraMixerAdapter(base.cols(), base.rows(), rank, adapters.size(), rank, 0f, topK, rslAlpha,
                    rslLambda, true);
            m.router.initNormal(rnd, 0.02);
            for (int a = 0; a < adapters.size(); a++) {
                if (adapters.get(a).get(layer, target) instanceof LoraAdapter l) {
                    m.setExpert(a, l);
                }
            }
            return m;
        };
        return TrainableAdapterSet.create(weights, targets, f, seed);
    }

    /** The largest rank of {@code sets}, which must hold LoRA adapters only. */
    private static int loraRank(List<TrainableAdapterSet> sets, String method) {
        if (sets.isEmpty()) {
            throw new IllegalArgumentException(method + " needs at least one pre-trained adapter");
        }
        int rank = 1;
        for (TrainableAdapterSet set : sets) {
            for (TrainableAdapter a : set.adapters()) {
                if (!(a instanceof LoraAdapter l)) {
                    throw new IllegalArgumentException(method + " mixes LoRA adapters; one of them has a " + a.method()
                            + " adapter");
                }
                rank = Math.max(rank, l.rank());
            }
        }
        return rank;
    }

    /** X-LoRA adapters sharing {@code model}; filled from {@code experts} when not null, else empty (to load). */
    private static AdapterFactory xloraFactory(XLoraModel model, int rank, Set<Target> targets,
                                               List<TrainableAdapterSet> experts) {
        Target first = java.util.Collections.min(targets);
        return (layer, target, base, rnd) -> {
            var x = new XLoraAdapter(model, layer, base.cols(), base.rows(), rank, target == first);
            for (int a = 0; experts != null && a < experts.size(); a++) {
                if (experts.get(a).get(layer, target) instanceof LoraAdapter l) {
                    x.setExpert(a, l);
                }
            }
            return x;
        };
    }

    /**
     * MixLoRA: the FFN mixture on the down_proj slot ({@link FfnAdapter}), MixLoRA's attention LoRA on q/k/v/o;
     * gate/up cannot carry an adapter of their own (the experts already adapt them).
     */
    private static AdapterFactory mixlora(HyperParams p, int rank, float dropout, Set<Target> targets, boolean init) {
        if (!targets.contains(Target.DOWN)) {
            throw new IllegalArgumentException("mixlora puts its FFN experts on the down_proj slot: add 'down' to the "
                    + "targets (got " + targets + ")");
        }
        float alpha = p.real("alpha", 16), aux = p.real("aux_loss_coef", 0.01f);
        int experts = p.integer("num_experts", 8), topK = p.integer("top_k", 2);
        var config = MixLoraAttention.mixloraConfig(rank, alpha, dropout, experts, topK, aux);
        return (layer, target, base, rnd) -> switch (target) {
            case DOWN -> {
                var m = new MixLoraAdapter(base.rows(), base.cols(), rank, experts, topK, alpha, dropout, aux);
                if (init) {
                    m.initialize(rnd);
                }
                yield m;
            }
            case GATE, UP -> throw new IllegalArgumentException("mixlora: the FFN experts adapt gate_proj and up_proj "
                    + "themselves; target 'down' for the FFN mixture and leave gate/up out of --targets");
            default -> {
                var a = new MixLoraAttention(base.cols(), base.rows(), rank, alpha, dropout, config);
                if (init) {
                    a.initKaimingUniform(rnd);
                }
                yield a;
            }
        };
    }

    /** VeRA, NOLA, LoLDU, Bone, MoRA, RandLoRA: their own initialisation ({@code init}) or empty adapters to load into. */
    /** VeRA, NOLA, LoLDU, Bone, MoRA, RandLoRA, FLoRA: their own initialisation ({@code init}) or empty adapters to load into. */
    /** VeRA, NOLA, LoLDU, Bone, MoRA, RandLoRA, FLoRA, Hydra, MoS: their own initialisation ({@code init}) or empty adapters to load into. */
    private static AdapterFactory structural(Method m, HyperParams p, LlamaWeights weights, Set<Target> targets, boolean init) {
        int rank = p.integer("rank", m.name().equals("vera") ? 256 : 8);
        float dropout = p.real("dropout", 0);
        return switch (m.name()) {
            case "vera" -> {
                int[] max = maxShape(weights, targets);
                var proj = VeraAdapter.Projections.generate(rank, max[0], max[1], p.longValue("projection_prng_key", 0));
                float dInit = p.real("d_initial", 0.1f);
                yield (layer, target, base, rnd) -> new VeraAdapter(base.cols(), base.rows(), proj, dInit, dropout);
            }
            case "nola" -> {
                int k = p.integer("num_basis_A", 64), l = p.integer("num_basis_B", 64);
                float alpha = p.real("alpha", 16);
                long seed = p.longValue("basis_seed", 0);
                yield (layer, target, base, rnd) -> {
                    var n = new NolaAdapter(base.cols(), base.rows(), rank, k, l, alpha, dropout, seed, layer, target);
                    if (init) {
                        n.initCoefficients(rnd);
                    }
                    return n;
                };
            }
            case "loldu" -> (layer, target, base, rnd) -> init
                    ? LoLduAdapter.decompose(base, rank, dropout)
                    : new LoLduAdapter(base.cols(), base.rows(), rank, dropout);
            case "randlora" -> {
                int[] max = maxShape(weights, targets);
                var bases = RandLoraAdapter.Bases.generate(rank, max[0], max[1], p.longValue("projection_prng_key", 0));
                float alpha = p.real("alpha", 16);
                yield (layer, target, base, rnd) -> new RandLoraAdapter(base.cols(), base.rows(), bases, alpha, dropout);
            }
            case "adalora", "dylora", "increlora", "codyra" -> rankAdaptive(m, p, rank, dropout, init);
            case "triadaptlora" -> triAdapt(m, p, rank, dropout, init);
            case "loramoe", "mola", "smora", "dynmole" -> mixture(m.name(), p, rank, dropout, weights.layers().size(), init);
            case "loramixer" -> {
                LoraMixerAdapter.checkTargets(targets);
                yield mixture(m.name(), p, rank, dropout, weights.layers().size(), init);
            }
            case "mixlora" -> mixlora(p, rank, dropout, targets, init);
            case "meteora" -> {
                if (init) {
                    throw new IllegalArgumentException("meteora embeds pre-trained LoRA adapters: give them with "
                            + "--method-arg adapters=FILE,FILE (jlora train) or use AdapterMethods.meteora(...) from Java");
                }
                int n = p.integer("num_experts", 0), k = p.integer("top_k", 2);
                yield (layer, target, base, rnd) -> new MeteoraAdapter(base.cols(), base.rows(), rank, n, k);
            }
            case "xlora" -> {
                if (init) {
                    throw new IllegalArgumentException("xlora mixes pre-trained LoRA adapters: give them with --method-arg "
                            + "adapters=FILE,FILE (jlora train) or use AdapterMethods.xlora(...) from Java");
                }
                yield xloraFactory(new XLoraModel(weights.layers().size(), weights.finalNorm().length,
                        p.integer("num_experts", 0), p.real("softmax_temperature", 1)), rank, targets, null);
            }
            case "bone" -> switch (p.str("init_weights", "true").trim().toLowerCase(java.util.Locale.ROOT)) {
                case "true", "bone" -> (layer, target, base, rnd) -> new BoneAdapter(base.cols(), base.rows(), rank);
                case "bat" -> (layer, target, base, rnd) -> new BoneBatAdapter(base, rank);
                default -> throw new IllegalArgumentException("adapter method bone: init_weights must be true (bone) "
                        + "or bat, got '" + p.str("init_weights", "") + "'");
            };
            case "lorasb" -> {
                if (init) {
                    throw new IllegalStateException("lorasb initialises from training data: use LoraSbInit.factory");
                }
                var initConfig = LoraSbInit.initConfig(p.real("init_lr", 2e-4f), p.str("update", "sign"),
                        p.integer("init_batches", 8));
                yield (layer, target, base, rnd) -> new LoraSbAdapter(base.cols(), base.rows(), rank, dropout, initConfig);
            }
            case "mora" -> {
                int type = p.integer("mora_type", MoraAdapter.SHARING);
                yield (layer, target, base, rnd) -> new MoraAdapter(base.cols(), base.rows(), rank, dropout, type);
            }
            case "sora" -> {
                float alpha = p.real("alpha", 16);
                yield (layer, target, base, rnd) -> {
                    var s = new SoraAdapter(base.cols(), base.rows(), rank, alpha, dropout);
                    if (init) {
                        s.init(rnd);
                    }
                    return s;
                };
            }
            case "salt" -> {
                int rLora = p.integer("r_lora", 8);
                yield (layer, target, base, rnd) -> {
                    var salt = new SaltAdapter(base, rank, rLora, dropout);
                    if (init) {
                        salt.init(rnd);
                    }
                    return salt;
                };
            }
            case "kasa" -> {
                if (init) {
                    throw new IllegalStateException("KaSA adapters for training come from KasaAdapter.truncate");
                }
                float alpha = p.real("alpha", 16);
                String on = p.str("kasa_base", KasaAdapter.TRUNCATED);
                if (!on.equals(KasaAdapter.TRUNCATED) && !on.equals(KasaAdapter.ORIGINAL)) {
                    throw new IllegalArgumentException("adapter method kasa: kasa_base must be truncated or original, got '"
                            + on + "'");
                }
                yield (layer, target, base, rnd) -> new KasaAdapter(base.cols(), base.rows(), rank, alpha, dropout,
                        on.equals(KasaAdapter.ORIGINAL));
            }
            case "flora" -> {
                float scale = p.real("flora_scale", 1);
                yield (layer, target, base, rnd) -> {
                    var f = new FloraAdapter(base.cols(), base.rows(), rank, scale, dropout);
                    if (init) {
                        f.initFactors(rnd);
                    }
                    return f;
                };
            }
            case "hydra" -> {
                LoraConfig cfg = p.lora(targets);
                yield (layer, target, base, rnd) -> init
                        ? HydraAdapter.create(base, cfg, rnd)
                        : new HydraAdapter(base, cfg.rank(), cfg.alpha(), cfg.dropout(), cfg.rsLora());
            }
            case "mos" -> mos(p.lora(targets), p, weights.layers().size(), init);
            case "full" -> (layer, target, base, rnd) -> new FullAdapter(base.cols(), base.rows());
            case LoraPruneAdapter.METHOD -> {
                LoraConfig cfg = p.lora(targets);
                var own = new LinkedHashMap<String, String>();
                LORAPRUNE_KEYS.forEach((k, dflt) -> own.put(k, p.values().getOrDefault(k, dflt)));
                yield (layer, target, base, rnd) -> new LoraPruneAdapter(base, init
                        ? LoraAdapter.create(base.cols(), base.rows(), cfg, rnd)
                        : new LoraAdapter(base.cols(), base.rows(), cfg.rank(), cfg.alpha(), cfg.dropout(), cfg.rsLora()),
                        own);
            }
            case "loram" -> throw new IllegalArgumentException("loram trains LoRA on a pruned copy of the base model: "
                    + "use dev.jlora.engine.prune.Loram (jlora train --method loram does); its saved adapter is a "
                    + "plain lora for the full model");
            default -> throw new IllegalStateException("no factory for method " + m.name());
        };
    }
}
