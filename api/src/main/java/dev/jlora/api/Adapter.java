package dev.jlora.api;

import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * An adapter of one base model: trained by {@link FineTune#run} or loaded by {@link Model#loadAdapter}. Apply it with
 * {@link Model#withAdapter}; save it in jlora's own format or export it for other tools. Its values do not change
 * after creation, so it may be shared between threads.
 */
public final class Adapter {
    private final TrainableAdapterSet adapters;
    private final LlamaConfig config;
    private final Map<String, String> meta;

    Adapter(TrainableAdapterSet adapters, LlamaConfig config, Map<String, String> meta) {
        this.adapters = adapters;
        this.config = config;
        this.meta = Map.copyOf(meta);
    }

    /**
     * Trainable values of the adapter, all layers together.
     *
     * @return the parameter count
     */
    public long parameterCount() {
        return adapters.parameterCount();
    }

    /**
     * The adapter method of its layers, as written in saved files (e.g. {@code "lora"}, {@code "dora"}).
     *
     * @return the method name
     */
    public String method() {
        return adapters.adapters().getFirst().config().getOrDefault("method", "lora");
    }

    /**
     * Saves the adapter as a {@code .jlora} file (every method, with its hyper-parameters, so
     * {@link Model#loadAdapter} rebuilds it exactly).
     *
     * @param file the file to write (atomically)
     * @throws IOException if it cannot be written
     */
    public void save(Path file) throws IOException {
        AdapterFile.save(file, adapters, meta);
    }

    /**
     * Exports the adapter for other tools.
     *
     * @param path   a directory for {@code "peft"} (adapter_config.json + adapter_model.safetensors, Hugging Face PEFT),
     *               a file for {@code "gguf"} (llama.cpp: {@code llama-cli --lora FILE}) or {@code "jlora"}
     * @param format {@code "peft"}, {@code "gguf"} or {@code "jlora"}
     * @throws IOException if it cannot be written
     * @throws IllegalArgumentException if the format is unknown or cannot hold this adapter method
     */
    public void export(Path path, String format) throws IOException {
        AdapterFiles.save(path, AdapterFiles.Format.parse(format), adapters, config, meta);
    }

    TrainableAdapterSet adapters() {
        return adapters;
    }
}
