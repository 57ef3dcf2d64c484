package dev.jlora.api;

import dev.jlora.loaders.ModelLoader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Entry point of the embedding API: loads models. The JVM needs {@code --add-modules jdk.incubator.vector} (SIMD
 * kernels) and, for native backends, {@code --enable-native-access=ALL-UNNAMED}.
 */
public final class Jlora {
    private Jlora() {}

    /**
     * Loads a model with its weights as stored.
     *
     * @param model a GGUF file or a Hugging Face model directory (config.json, safetensors, tokenizer files)
     * @return the model, weights memory-mapped where the file allows it
     * @throws IOException if the file is missing, unreadable or malformed (the message names the place)
     */
    public static Model load(Path model) throws IOException {
        return load(model, null);
    }

    /**
     * Loads a model and quantizes its linear weights on load.
     *
     * @param model a GGUF file or a Hugging Face model directory
     * @param quant a format name ({@code "nf4"}, {@code "q4_0"}, {@code "q4_k"}, {@code "q8_0"}, …) or null to keep the
     *              stored formats
     * @return the model
     * @throws IOException if the file is missing, unreadable or malformed
     * @throws IllegalArgumentException if {@code quant} is not a known format
     */
    public static Model load(Path model, String quant) throws IOException {
        if (!Files.exists(model)) {
            throw new NoSuchFileException(model.toString(), null, "no such model file or directory");
        }
        var options = quant == null || quant.isBlank() ? ModelLoader.LoadOptions.DEFAULT
                : ModelLoader.LoadOptions.withQuant(quant);
        return new Model(ModelLoader.load(model, options), model.getFileName().toString());
    }

    /**
     * The version of this library.
     *
     * @return e.g. {@code "0.1.0"}, or {@code "dev"} when running from classes rather than a built jar
     */
    public static String version() {
        String v = Jlora.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }
}
