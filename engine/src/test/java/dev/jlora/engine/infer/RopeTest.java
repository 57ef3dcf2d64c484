package dev.jlora.engine.infer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jlora.engine.model.LlamaConfig.RopeScaling;
import org.junit.jupiter.api.Test;

class RopeTest {
    /**
     * Llama 3.1's scaling (theta 500000, hs 128, factor 8, low 1, high 4, original context 8192). Expected values from
     * Hugging Face's {@code _compute_llama3_parameters} run in PyTorch float64: index 28 is kept (short wavelength),
     * 29..34 are blended, 35.. divided by 8.
     */
    @Test
    void llama3FrequenciesMatchHuggingFace() {
        double[] f = Rope.inverseFrequencies(128, 500000f,
                new RopeScaling(RopeScaling.Type.LLAMA3, 8f, 8192, 1f, 4f));
        int[] idx = {0, 20, 28, 29, 31, 34, 35, 63};
        double[] hf = {1.0, 0.016560440080994446, 0.0032114459947525913, 0.002166570763503359,
                0.0008567514129196321, 0.00017850781276799638, 9.556212353964683e-05, 3.068925988914511e-07};
        for (int j = 0; j < idx.length; j++) {
            assertEquals(hf[j], f[idx[j]], 1e-12 * hf[j], "inv_freq[" + idx[j] + "]");
        }
    }

    @Test
    void linearScalingDividesEveryFrequency() {
        double[] plain = Rope.inverseFrequencies(8, 10000f, RopeScaling.NONE);
        double[] lin = Rope.inverseFrequencies(8, 10000f, new RopeScaling(RopeScaling.Type.LINEAR, 4f, 0, 0f, 0f));
        double[] expected = {1.0, 0.1, 0.01, 0.001};   // 10000^(-2i/8)
        for (int i = 0; i < 4; i++) {
            assertEquals(expected[i], plain[i], 1e-15, "theta_" + i);
            assertEquals(expected[i] / 4, lin[i], 1e-15, "scaled theta_" + i);
        }
    }
}
