package dev.jlora.cli;

import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.MemoryBudget;
import dev.jlora.loaders.ModelLoader;
import java.io.IOException;

/** Loads the MODEL argument of a command (a GGUF file, a Hugging Face directory or 'demo') with an optional --quant. */
final class CliModels {
    private CliModels() {}

    static LlamaModel load(String model, String quant) throws IOException {
        return load(model, quant, MemoryBudget.UNLIMITED);
    }

    /** Loads within {@code budget}: weights that cannot fit fail before anything is quantized or copied. */
    static LlamaModel load(String model, String quant, MemoryBudget budget) throws IOException {
        return load(model, quant, false, budget);
    }

    /** As {@link #load(String, String, MemoryBudget)}, with the token embedding quantized too when asked. */
    static LlamaModel load(String model, String quant, boolean quantizeEmbedding, MemoryBudget budget) throws IOException {
        return ModelLoader.load(ModelFiles.resolve(model), options(quant, quantizeEmbedding).withMemory(budget));
    }

    /** Load options for {@code --quant} (null or blank: as stored) and {@code --quant-embeddings}. */
    static ModelLoader.LoadOptions options(String quant, boolean quantizeEmbedding) {
        var options = quant == null || quant.isBlank() ? ModelLoader.LoadOptions.DEFAULT
                : ModelLoader.LoadOptions.withQuant(quant);
        if (quantizeEmbedding && options.quant() == null) {
            throw new IllegalArgumentException("--quant-embeddings needs --quant (the format to quantize the embedding to)");
        }
        return options.withQuantizedEmbedding(quantizeEmbedding);
    }
}
