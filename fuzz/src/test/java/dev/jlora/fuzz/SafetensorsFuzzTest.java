package dev.jlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.loaders.safetensors.SafetensorsReader;
import dev.jlora.loaders.safetensors.SafetensorsTensor;
import java.lang.foreign.ValueLayout;

/**
 * safetensors files: the 8-byte header length, the JSON header (dtypes, shapes, offsets, overlaps) and reading every
 * tensor's first and last byte. Seed: the weights of a tiny model written by jlora.
 */
class SafetensorsFuzzTest {
    @FuzzTest(maxDuration = FuzzInputs.BUDGET)
    void safetensors(byte[] data) throws Exception {
        try (var f = SafetensorsReader.open(FuzzInputs.file("model.safetensors", data))) {
            long sum = 0;
            for (SafetensorsTensor t : f.tensors().values()) {
                long n = t.data().byteSize();
                if (n > 0) {   // the segment must really cover the declared bytes
                    sum += t.data().get(ValueLayout.JAVA_BYTE, 0) + t.data().get(ValueLayout.JAVA_BYTE, n - 1);
                }
            }
            Blackhole.consume(sum);
        } catch (ModelFormatException expected) {
            // rejected with a message
        }
    }
}
