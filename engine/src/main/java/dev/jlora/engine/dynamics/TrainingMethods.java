package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.HyperParams;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.train.TrainingHook;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * The training hooks by name, for {@code jlora train --dynamics NAME --dynamics-arg KEY=VALUE} and the Java API:
 * methods that change how training proceeds (see {@link TrainingHook}). Adapter methods that need a hook of their
 * own (a rank budget schedule, routing statistics) register it under the adapter method's name with
 * {@code forAdapterMethod = true}; {@link #forAdapterMethod} returns it for {@code --method NAME}, fed with the
 * {@code --method-arg} values.
 */
public final class TrainingMethods {
    private TrainingMethods() {}

    /** What a hook is created from: the model and adapters it will train, the data, and the run's configuration. */
    public record Context(LlamaModel model, TrainableAdapterSet adapters, Dataset data, TrainConfig cfg) {}

    /**
     * One registered hook: its description, its keys with defaults (for help and validation), and its constructor.
     *
     * @param forAdapterMethod true when {@code name} is an adapter method ({@code --method}) that brings this hook
     */
    public record Kind(String name, String description, Map<String, String> keys, boolean forAdapterMethod,
                       BiFunction<HyperParams, Context, TrainingHook> create) {}

    private static final Map<String, Kind> KINDS = new LinkedHashMap<>();

    static {
        add(new Kind("loraplus", "LoRA+ (Hayou et al. 2024): B learns loraplus_lr_ratio times faster than A",
                Map.of("loraplus_lr_ratio", "16"), false,
                (p, c) -> new LoraPlus(c.adapters(), p.real("loraplus_lr_ratio", 16))));
        add(new Kind("allora", "ALLoRA (Huang & Balestriero 2024): no dropout or scaling, per-row learning rate "
                + "1/sqrt(|row|^2 + 1/allora_eta^2)", Map.of("allora_eta", "4"), false,
                (p, c) -> new Allora(c.adapters(), c.cfg(), p.real("allora_eta", 4))));
        add(new Kind("lorapro", "LoRA-Pro (Wang et al. 2024): A, B gradients whose equivalent gradient best "
                + "approximates the full one; lorapro_optimizer=adamw runs Adam on it (needs --optimizer sgd "
                + "--momentum 0 --weight-decay 0) or sgd", Map.of("lorapro_optimizer", "adamw"), false,
                (p, c) -> new LoraPro(c.adapters(), c.cfg(), p.str("lorapro_optimizer", "adamw"))));
        add(new Kind("lisa", "LISA (Pan et al. 2024): every lisa_interval_steps, train lisa_activated_layers "
                + "random layers plus embedding and head (needs --method full --train-base embed,head)",
                Map.of("lisa_activated_layers", "2", "lisa_interval_steps", "20"), false,
                (p, c) -> new Lisa(c.adapters(), p.integer("lisa_activated_layers", 2),
                        p.integer("lisa_interval_steps", 20), c.cfg().seed())));
        add(new Kind("owlore", "OwLore (Li et al. 2024): LISA sampling weighted by layer outlier ratios, sampled "
                + "layers trained with GaLore projected Adam (needs --method full --train-base embed,head)",
                Map.of("owlore_activated_layers", "2", "owlore_interval_steps", "20", "owlore_outlier_M", "13",
                        "owlore_calibration_batches", "4", "owlore_rank", "256", "owlore_update_gap", "100",
                        "owlore_galore_scale", "1"), false,
                (p, c) -> new OwLore(c.model(), c.adapters(), c.data(), c.cfg(), p.integer("owlore_activated_layers", 2),
                        p.integer("owlore_interval_steps", 20), p.real("owlore_outlier_M", 13),
                        p.integer("owlore_calibration_batches", 4), p.integer("owlore_rank", 256),
                        p.integer("owlore_update_gap", 100), p.real("owlore_galore_scale", 1))));
        add(new Kind("fira", "Fira (Chen et al. 2024): low-rank projected Adam plus the norm-scaled, growth-limited "
                + "residual gradient on full weights (needs --method full)",
                Map.of("fira_rank", "128", "fira_update_gap", "200", "fira_alpha", "1"), false,
                (p, c) -> new Fira(c.adapters(), c.cfg(), p.integer("fira_rank", 128), p.integer("fira_update_gap", 200),
                        p.real("fira_alpha", 1))));
        add(new Kind(Flexora.NAME, "Flexora (Wei et al. 2024): per-layer gates L·softmax(α) on the adapters, α trained "
                + "on the held-out rows for flexora_search_steps steps; then the layers with gate > 1 are fine-tuned "
                + "from the initial adapters, the others frozen (flexora_layers=0,3,… fine-tunes a given list)",
                Map.of("flexora_search_steps", "a third of --steps", "flexora_lr", "0.01", "flexora_val_batches", "--grad-accum",
                        "flexora_layers", "none"), false,
                (p, c) -> new Flexora(c.adapters(), c.data(), c.cfg(), p.integer("flexora_search_steps", Math.max(1, c.cfg().steps() / 3)),
                        p.real("flexora_lr", 0.01f), p.integer("flexora_val_batches", c.cfg().gradAccum()),
                        Flexora.parseLayers(p.str("flexora_layers", "")))));
        add(new Kind(AdaLora.NAME, "AdaLoRA's budget schedule, importance masking and orthogonal regulariser",
                AdapterMethods.method(AdaLora.NAME).keys(), true,
                (p, c) -> new AdaLora(c.adapters(), p, c.cfg().steps())));
        add(new Kind(LoraPrune.NAME, "LoRAPrune's LoRA-guided importance and iterative structured pruning schedule",
                AdapterMethods.LORAPRUNE_KEYS, true, (p, c) -> new LoraPrune(c.adapters(), c.model(), p, c.cfg().steps())));
        add(new Kind("xlora", "X-LoRA's scaling pass and scaling-head gradient, scaling statistics", Map.of(), true,
                (p, c) -> new XLoraScaling(c.adapters())));
        for (String mixture : List.of("loramoe", "mola", "smora", "dynmole", "loramixer", "mixlora", "meteora")) {
            add(new Kind(mixture, "routing statistics, auxiliary-loss scaling (and SMoRA's bias update) of " + mixture,
                    Map.of(), true, (p, c) -> new MixtureRouting(mixture, c.adapters(), c.cfg().gradAccum())));
        }
        add(new Kind("sora", "SoRA (Ding et al. 2023): proximal soft-thresholding of the gates after each step, "
                + "λ schedule, sora_active_rank metric", Map.of("sparse_lambda", "10", "lambda_schedule", "none",
                "max_lambda", "10", "lambda_num", "1"), true, (p, c) -> SoraSparsity.create(p, c.adapters())));
        add(new Kind(DyLora.NAME, "DyLoRA's per-step random truncated rank", AdapterMethods.method(DyLora.NAME).keys(),
                true, (p, c) -> new DyLora(c.adapters(), p, c.cfg().seed())));
        add(new Kind(IncreLora.NAME, "IncreLoRA's importance-driven rank growth with advance learning",
                AdapterMethods.method(IncreLora.NAME).keys(), true, (p, c) -> new IncreLora(c.adapters(), p)));
        add(new Kind(TriAdaptLora.NAME, "TriAdaptLoRA's threshold-driven rank growth and orthogonal regulariser",
                AdapterMethods.method(TriAdaptLora.NAME).keys(), true,
                (p, c) -> new TriAdaptLora(c.adapters(), p, c.cfg().steps())));
        add(new Kind(RankSelectiveLora.NAME, "CoDyRA's proximal L1 sparsification of the rank gates",
                AdapterMethods.method(RankSelectiveLora.NAME).keys(), true,
                (p, c) -> new RankSelectiveLora(c.adapters(), p, c.cfg().steps())));
        add(new Kind("kasa", "KaSA (Wang et al. 2024): adds beta·‖ΔΣ‖² + gamma·(‖ΔUᵀΔU − I‖ + ‖ΔVᵀΔV − I‖), averaged "
                + "over adapters", Map.of("beta", "1e-4", "gamma", "1e-3"), true,
                (p, c) -> new KasaRegularizer(c.adapters(), p.real("beta", 1e-4f), p.real("gamma", 1e-3f))));
    }

    private static void add(Kind k) {
        KINDS.put(k.name(), k);
    }

    /** The hooks selectable with {@code --dynamics}, in a fixed order. */
    public static List<Kind> dynamics() {
        return KINDS.values().stream().filter(k -> !k.forAdapterMethod()).toList();
    }

    /** Creates the {@code --dynamics} hook {@code name} with {@code args}; unknown names or keys are errors. */
    public static TrainingHook create(String name, Map<String, String> args, Context ctx) {
        Kind k = KINDS.get(name.trim().toLowerCase(Locale.ROOT));
        if (k == null || k.forAdapterMethod()) {
            throw new IllegalArgumentException("unknown training dynamics '" + name + "': expected one of "
                    + dynamics().stream().map(Kind::name).toList());
        }
        return k.create().apply(new HyperParams(k.name(), args).requireKnown(k.keys().keySet()), ctx);
    }

    /**
     * Creates every hook in {@code names} from one map of arguments: each hook takes the keys it knows, and a key no
     * hook knows is an error.
     */
    public static List<TrainingHook> create(List<String> names, Map<String, String> args, Context ctx) {
        var hooks = new ArrayList<TrainingHook>();
        var used = new java.util.HashSet<String>();
        for (String n : names) {
            Kind k = KINDS.get(n.trim().toLowerCase(Locale.ROOT));
            var own = new LinkedHashMap<String, String>();
            if (k != null) {
                args.forEach((key, v) -> {
                    if (k.keys().containsKey(key)) {
                        own.put(key, v);
                        used.add(key);
                    }
                });
            }
            hooks.add(create(n, own, ctx));
        }
        for (String key : args.keySet()) {
            if (!used.contains(key)) {
                throw new IllegalArgumentException("--dynamics-arg '" + key + "' belongs to none of " + names);
            }
        }
        return hooks;
    }

    /** The hook adapter method {@code method} brings (fed with its {@code --method-arg} values), if any. */
    public static List<TrainingHook> forAdapterMethod(String method, Map<String, String> methodArgs, Context ctx) {
        Kind k = KINDS.get(method.trim().toLowerCase(Locale.ROOT));
        if (k == null || !k.forAdapterMethod()) {
            return List.of();
        }
        return List.of(k.create().apply(new HyperParams(k.name(), methodArgs), ctx));
    }
}
