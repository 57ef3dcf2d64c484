package dev.jlora.loaders.adapter;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.RankMaskedAdapter;
import dev.jlora.engine.adapter.SoraAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.adapter.TriAdaptLoraAdapter;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.train.AdapterFile;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Adapter files of every format jlora knows, detected from the path: a directory with {@code adapter_config.json}
 * (PEFT, Unsloth or MLX-LM), a GGUF file (llama.cpp LoRA), or jlora's own {@code .jlora} archive (what
 * {@code jlora train} writes).
 */
public final class AdapterFiles {

    /** The formats {@link #save} writes. */
    public enum Format {
        /** Hugging Face PEFT directory. */
        PEFT,
        /** llama.cpp LoRA GGUF. */
        GGUF,
        /** jlora's own archive (keeps any adapter method). */
        JLORA;

        public static Format parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "peft", "hf" -> PEFT;
                case "gguf", "llama.cpp" -> GGUF;
                case "jlora" -> JLORA;
                default -> throw new IllegalArgumentException("unknown adapter format '" + s
                        + "': expected peft, gguf or jlora");
            };
        }
    }

    /** What {@code jlora train --out DIR} writes into DIR. */
    static final String TRAIN_OUTPUT = "adapter.jlora";

    private AdapterFiles() {}

    /** Loads the adapter at {@code path} for {@code model}, warnings to stderr. */
    public static TrainableAdapterSet load(Path path, LlamaModel model) throws IOException {
        return load(path, model, msg -> System.err.println("warning: " + msg));
    }

    /**
     * Loads the adapter at {@code path} for {@code model}; the format is detected from the path and its bytes. A
     * directory of {@code jlora train} output stands for its {@code adapter.jlora}.
     */
    public static TrainableAdapterSet load(Path path, LlamaModel model, Consumer<String> warn) throws IOException {
        if (Files.isDirectory(path) && !PeftAdapter.isAdapterDir(path) && Files.isRegularFile(path.resolve(TRAIN_OUTPUT))) {
            path = path.resolve(TRAIN_OUTPUT);
        }
        return switch (detect(path)) {
            case PEFT -> PeftAdapter.read(path, model, warn);
            case GGUF -> LoraGguf.read(path, model, warn);
            case JLORA -> AdapterFile.load(path, model.weights(), AdapterMethods.loader(model.weights()));
        };
    }

    /** The format of the adapter at {@code path}. */
    public static Format detect(Path path) throws IOException {
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString(), null, "no such adapter file or directory");
        }
        if (Files.isDirectory(path)) {
            if (PeftAdapter.isAdapterDir(path)) {
                return Format.PEFT;
            }
            if (Files.isRegularFile(path.resolve(TRAIN_OUTPUT))) {
                return Format.JLORA;
            }
            throw ModelFormatException.of(path, "is a directory without %s or %s (expected a PEFT/MLX adapter directory or jlora train output)",
                    PeftAdapter.CONFIG, TRAIN_OUTPUT);
        }
        byte[] head = new byte[4];
        int n;
        try (InputStream in = Files.newInputStream(path)) {
            n = in.readNBytes(head, 0, 4);
        }
        if (n == 4 && head[0] == 'G' && head[1] == 'G' && head[2] == 'U' && head[3] == 'F') {
            return Format.GGUF;
        }
        if (path.getFileName().toString().endsWith(".jlora")) {
            return Format.JLORA;
        }
        if (path.getFileName().toString().equals(PeftAdapter.CONFIG) || path.getFileName().toString().equals(PeftAdapter.WEIGHTS)) {
            throw ModelFormatException.of(path, "is one file of a PEFT adapter; pass its directory %s", path.getParent());
        }
        throw ModelFormatException.of(path, "is not an adapter: expected a PEFT directory, a LoRA GGUF (magic GGUF) "
                + "or a .jlora file");
    }

    /**
     * The linear RoPE scaling factor a {@code jlora train --rope-scale} adapter at {@code adapter} (a .jlora file or
     * a directory holding adapter.jlora) was trained with ({@link AdapterFile#ROPE_SCALE_KEY}); null when the path is
     * null, not a .jlora archive, or the adapter was trained without one. Inference must apply it on top of the
     * base's RoPE.
     */
    public static Float ropeScale(Path adapter) throws IOException {
        if (adapter == null) {
            return null;
        }
        Path file = Files.isDirectory(adapter) ? adapter.resolve("adapter.jlora") : adapter;
        if (!Files.isRegularFile(file) || !file.getFileName().toString().endsWith(".jlora")) {
            return null;
        }
        String factor = AdapterFile.readMeta(file).get(AdapterFile.ROPE_SCALE_KEY);
        if (factor == null) {
            return null;
        }
        float f;
        try {
            f = Float.parseFloat(factor);
        } catch (NumberFormatException e) {
            f = Float.NaN;
        }
        if (!(f >= 1f) || !Float.isFinite(f)) {   // the rule of LlamaConfig.withLinearRopeScaling
            throw ModelFormatException.field(file, "meta." + AdapterFile.ROPE_SCALE_KEY,
                    "expected a finite factor ≥ 1, found %s", factor);
        }
        return f;
    }

    /**
     * Writes {@code adapters} of a model shaped {@code cfg} in {@code format}; {@code baseModel} names the base for
     * PEFT's {@code base_model_name_or_path}. Every file is written atomically.
     */
    public static void save(Path path, Format format, TrainableAdapterSet adapters, LlamaConfig cfg, String baseModel)
            throws IOException {
        save(path, format, adapters, cfg, Map.of("base_model", baseModel));
    }

    /**
     * {@link #save(Path, Format, TrainableAdapterSet, LlamaConfig, String)} with the adapter's metadata:
     * {@code base_model} names the base, and a .jlora file keeps every other key as given (e.g.
     * {@link AdapterFile#ROPE_SCALE_KEY}, which PEFT and LoRA GGUF files have no place for).
     */
    public static void save(Path path, Format format, TrainableAdapterSet adapters, LlamaConfig cfg,
                            Map<String, String> meta) throws IOException {
        String baseModel = meta.getOrDefault("base_model", "");
        if (format != Format.JLORA && adapters.base() != null) {
            throw new UnsupportedOperationException(format.name().toLowerCase(java.util.Locale.ROOT)
                    + " export of base tensors trained in full (" + adapters.base().parts() + ") is not implemented: "
                    + "save as .jlora or merge them into the model with jlora merge");
        }
        if (format != Format.JLORA && adapters.adapters().stream()
                .anyMatch(a -> a instanceof dev.jlora.engine.adapter.LoraPruneAdapter)) {
            throw new UnsupportedOperationException(format.name().toLowerCase(java.util.Locale.ROOT)
                    + " export of loraprune adapters is not implemented: a LoRA file cannot hold the structured pruning "
                    + "masks (prune_mask); save as .jlora, or write the pruned model with jlora merge");
        }
        // SoRA and the rank-adaptive methods (AdaLoRA, DyLoRA, IncreLoRA, CoDyRA, TriAdaptLoRA) export as what their
        // pruning or growth leaves: LoRA of the components in use per module (PEFT's rank_pattern).
        TrainableAdapterSet lora = format == Format.JLORA ? adapters
                : adapters.mapAdapters(a -> a instanceof SoraAdapter s ? s.prunedLora()
                        : a instanceof RankMaskedAdapter rm ? rm.toLora()
                        : a instanceof TriAdaptLoraAdapter t ? t.toLora() : a);
        switch (format) {
            case PEFT -> PeftAdapter.write(path, lora, cfg, baseModel);
            case GGUF -> LoraGguf.write(path, lora, cfg);
            case JLORA -> AdapterFile.save(path, adapters, meta);
        }
    }
}
