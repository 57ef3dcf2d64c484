package dev.jlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.loaders.hf.HfConfig;
import java.nio.charset.StandardCharsets;

/**
 * Hugging Face {@code config.json}: JSON syntax and limits, then the llama/mistral/qwen2 fields (types, ranges, rope
 * scaling). Seed: the config.json of a tiny model written by jlora.
 */
class HfFilesFuzzTest {
    @FuzzTest(maxDuration = FuzzInputs.BUDGET)
    void configJson(byte[] data) throws Exception {
        try {
            HfConfig.read(FuzzInputs.file("config.json", data));
        } catch (ModelFormatException | UnsupportedOperationException expected) {
            // rejected with a message
        }
        try {
            Json.parse(new String(data, StandardCharsets.UTF_8), Json.Limits.DEFAULT, "fuzz");
        } catch (ModelFormatException expected) {
            // rejected with a message
        }
    }
}
