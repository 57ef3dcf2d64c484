package dev.jlora.engine.train;

import dev.jlora.engine.adapter.AdapterFactory;
import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.RankPattern;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.adapter.TrainableBase;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaWeights;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Saves and loads an adapter set in jlora's own format ({@code .jlora}, a {@link TensorArchive}). Tensors are the
 * adapters' parameters and buffers by full name, e.g. {@code layers.N.q_proj.lora_A} [r × IC] and {@code lora_B}
 * [OC × r] for LoRA, in Hugging Face orientation and the base model's row layout (for GGUF bases, q/k rows are in
 * llama.cpp's permuted order). Metadata: {@code format=jlora-adapter}, {@code version=1}, {@code layers},
 * {@code targets} (comma-separated HF names), then the adapters' own {@link TrainableAdapter#config()} ({@code method},
 * and for LoRA {@code rank}, {@code alpha}, {@code dropout}, {@code rs_lora}), the {@link RankPattern} of layers whose
 * rank or alpha differs from the first adapter's (EVA), {@code train_base} when base tensors were trained in full
 * (their values are stored under their Hugging Face names, {@link TrainableBase}), then any caller metadata.
 * PEFT/GGUF export is the loaders' job.
 */
public final class AdapterFile {
    public static final String FORMAT = "jlora-adapter";
    /** Metadata key listing the base tensors trained in full ({@link TrainableBase.Part#format}), when any. */
    public static final String TRAIN_BASE_KEY = "train_base";
    /**
     * Metadata key of the position-interpolation factor an adapter was trained with (LongLoRA's context extension,
     * {@link dev.jlora.engine.model.LlamaConfig#withLinearRopeScaling}); inference with the adapter applies it.
     */
    public static final String ROPE_SCALE_KEY = "rope_scale_linear";

    private AdapterFile() {}

    public static void save(Path file, TrainableAdapterSet adapters, Map<String, String> extraMeta) throws IOException {
        var all = adapters.adapters();
        if (all.isEmpty()) {
            throw new IllegalArgumentException("adapter set is empty: nothing to save");
        }
        var meta = new LinkedHashMap<String, String>();
        meta.put("format", FORMAT);
        meta.put("version", "1");
        meta.put("layers", Integer.toString(adapters.layerCount()));
        meta.put("targets", adapters.targets().stream().sorted().map(Target::hfName).collect(Collectors.joining(",")));
        meta.putAll(all.getFirst().config());
        meta.putAll(RankPattern.of(adapters).meta());
        if (adapters.base() != null) {
            meta.put(TRAIN_BASE_KEY, TrainableBase.Part.format(adapters.base().parts()));
        }
        meta.putAll(extraMeta);
        TensorArchive.write(file, meta, adapters.state(), adapters.shapes());
    }

    /** The metadata of an adapter file (format checked). */
    public static Map<String, String> readMeta(Path file) throws IOException {
        var meta = TensorArchive.read(file).meta();
        checkFormat(file, meta);
        return meta;
    }

    /** An adapter of any registered method ({@link AdapterMethods}) saved by {@link #save}, for a model with {@code weights}. */
    public static TrainableAdapterSet load(Path file, LlamaWeights weights) throws IOException {
        return load(file, weights, AdapterMethods.loader(weights));
    }

    /**
     * Any adapter method: {@code factories} turns the file's metadata into the factory that builds empty adapters of
     * the right shapes, whose parameters and buffers are then filled from the file by name.
     */
    public static TrainableAdapterSet load(Path file, LlamaWeights weights,
                                           Function<Map<String, String>, AdapterFactory> factories) throws IOException {
        var c = TensorArchive.read(file);
        var meta = c.meta();
        checkFormat(file, meta);
        String layers = meta.get("layers");
        if (layers != null && !layers.equals(Integer.toString(weights.layers().size()))) {
            throw ModelFormatException.field(file, "meta.layers", "adapter has %s layers but the model has %d",
                    layers, weights.layers().size());
        }
        try {
            Set<Target> targets = LoraConfig.parseTargets(require(file, meta, "targets"));
            var set = TrainableAdapterSet.create(weights, targets, factories.apply(meta), 0);
            if (meta.containsKey(TRAIN_BASE_KEY)) {
                set = set.withBase(TrainableBase.empty(weights, TrainableBase.Part.parse(meta.get(TRAIN_BASE_KEY))));
            }
            set.load(c.tensors());
            return set;
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file.getFileName() + ": " + e.getMessage(), e);
        }
    }

    /** The LoRA hyperparameters in an adapter file's metadata. */
    public static LoraConfig loraConfig(Map<String, String> meta) {
        return new LoraConfig(Integer.parseInt(meta.getOrDefault("rank", "?")), Float.parseFloat(meta.getOrDefault("alpha", "?")),
                Float.parseFloat(meta.getOrDefault("dropout", "0")), Boolean.parseBoolean(meta.get("rs_lora")),
                LoraConfig.parseTargets(meta.getOrDefault("targets", "")));
    }

    private static void checkFormat(Path file, Map<String, String> meta) throws ModelFormatException {
        if (!FORMAT.equals(meta.get("format"))) {
            throw ModelFormatException.field(file, "meta.format", "expected \"%s\", found %s", FORMAT, meta.get("format"));
        }
        if (!"1".equals(meta.get("version"))) {
            throw ModelFormatException.field(file, "meta.version", "expected 1, found %s", meta.get("version"));
        }
    }

    private static String require(Path file, Map<String, String> meta, String key) throws ModelFormatException {
        String v = meta.get(key);
        if (v == null) {
            throw ModelFormatException.field(file, "meta." + key, "missing");
        }
        return v;
    }
}
