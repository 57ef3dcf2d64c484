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
        var options = quant == null || quant.isBlank() ? ModelLoader.LoadOptions.DEFAULT
                : ModelLoader.LoadOptions.withQuant(quant);
        return ModelLoader.load(ModelFiles.resolve(model), options.withMemory(budget));
    }
}
