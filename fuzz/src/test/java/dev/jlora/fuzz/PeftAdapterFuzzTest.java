package dev.jlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.adapter.PeftAdapter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * PEFT {@code adapter_config.json} (rank, alpha, target modules, rank/alpha patterns, DoRA, MLX-LM settings) read
 * beside valid LoRA weights for the demo model. Seed: the config jlora writes for that adapter.
 */
class PeftAdapterFuzzTest {
    private static final LlamaModel MODEL;
    private static final Path DIR;

    static {
        try {
            MODEL = ModelLoader.load(FuzzInputs.model("stories260K.gguf"));
            DIR = FuzzInputs.dir("peft");
            var lora = TrainableAdapterSet.lora(MODEL.weights(), new LoraConfig(4, 8, 0, false,
                    LoraConfig.parseTargets("q,v")), 1);
            PeftAdapter.write(DIR, lora, MODEL.config(), "stories260K");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @FuzzTest(maxDuration = FuzzInputs.BUDGET)
    void adapterConfig(byte[] data) throws Exception {
        Files.write(DIR.resolve(PeftAdapter.CONFIG), data);
        try {
            PeftAdapter.read(DIR, MODEL, warning -> {});
        } catch (ModelFormatException | UnsupportedOperationException expected) {
            // rejected with a message
        }
    }
}
