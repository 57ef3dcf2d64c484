package dev.jlora.engine.train;

import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaWeights;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Saves and loads a LoRA adapter set in jlora's own format ({@code .jlora}, a {@link TensorArchive}): tensors named
 * {@code layers.N.q_proj.lora_A} [r × IC] / {@code lora_B} [OC × r] (Hugging Face orientation, the base model's
 * row layout — for GGUF bases q/k rows are in llama.cpp's permuted order), and metadata {@code format=jlora-adapter},
 * {@code version=1}, {@code method}, {@code rank}, {@code alpha}, {@code dropout}, {@code rs_lora},
 * {@code targets} (comma-separated HF names), {@code layers}. PEFT/GGUF export is the loaders' job.
 */
public final class AdapterFile {
    public static final String FORMAT = "jlora-adapter";

    private AdapterFile() {}

    public static void save(Path file, TrainableAdapterSet adapters, LoraConfig cfg, Map<String, String> extraMeta)
            throws IOException {
        var meta = new LinkedHashMap<String, String>();
        meta.put("format", FORMAT);
        meta.put("version", "1");
        meta.putAll(metaOf(cfg));
        meta.put("layers", Integer.toString(adapters.layerCount()));
        meta.putAll(extraMeta);
        TensorArchive.write(file, meta, adapters.state(), adapters.shapes());
    }

    static Map<String, String> metaOf(LoraConfig cfg) {
        var meta = new LinkedHashMap<String, String>();
        meta.put("method", cfg.rsLora() ? "rslora" : "lora");
        meta.put("rank", Integer.toString(cfg.rank()));
        meta.put("alpha", Float.toString(cfg.alpha()));
        meta.put("dropout", Float.toString(cfg.dropout()));
        meta.put("rs_lora", Boolean.toString(cfg.rsLora()));
        meta.put("targets", cfg.targets().stream().sorted().map(Target::hfName).collect(Collectors.joining(",")));
        return meta;
    }

    /** The LoRA configuration written in {@code meta}. */
    static LoraConfig configOf(Path file, Map<String, String> meta) throws ModelFormatException {
        if (!FORMAT.equals(meta.get("format"))) {
            throw ModelFormatException.field(file, "meta.format", "expected \"%s\", found %s", FORMAT, meta.get("format"));
        }
        String method = meta.get("method");
        if (!"lora".equals(method) && !"rslora".equals(method)) {
            throw ModelFormatException.field(file, "meta.method", "method '%s' is not supported by this loader (lora, rslora)", method);
        }
        try {
            Set<Target> targets = LoraConfig.parseTargets(require(file, meta, "targets"));
            return new LoraConfig(Integer.parseInt(require(file, meta, "rank")),
                    Float.parseFloat(require(file, meta, "alpha")), Float.parseFloat(meta.getOrDefault("dropout", "0")),
                    Boolean.parseBoolean(meta.getOrDefault("rs_lora", "false")), targets);
        } catch (IllegalArgumentException e) {
            throw ModelFormatException.field(file, "meta", "%s", e.getMessage());
        }
    }

    /** Loads an adapter saved by {@link #save} for a model with {@code weights}; shapes must match the model. */
    public static TrainableAdapterSet load(Path file, LlamaWeights weights) throws IOException {
        var c = TensorArchive.read(file);
        LoraConfig cfg = configOf(file, c.meta());
        String layers = c.meta().get("layers");
        if (layers != null && !layers.equals(Integer.toString(weights.layers().size()))) {
            throw ModelFormatException.field(file, "meta.layers", "adapter has %s layers but the model has %d",
                    layers, weights.layers().size());
        }
        var set = TrainableAdapterSet.lora(weights, cfg, 0);
        try {
            set.load(c.tensors());
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file.getFileName() + ": " + e.getMessage(), e);
        }
        return set;
    }

    /** The LoRA configuration stored in an adapter file. */
    public static LoraConfig readConfig(Path file) throws IOException {
        return configOf(file, TensorArchive.read(file).meta());
    }

    private static String require(Path file, Map<String, String> meta, String key) throws ModelFormatException {
        String v = meta.get(key);
        if (v == null) {
            throw ModelFormatException.field(file, "meta." + key, "missing");
        }
        return v;
    }
}
