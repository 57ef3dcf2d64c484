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

    /**
     * Position interpolation (Chen et al. 2023, Eq. 2), LongLoRA's context extension: with factor F, position m
     * rotates as position m/F did before, the context grows F times, and a second extension compounds.
     */
    @Test
    void positionInterpolationMapsPositionMToMOverF() {
        var cfg = dev.jlora.engine.ref.TinyLlama.config(16, 24, 1, 2, 1, 11, true, false);
        var extended = cfg.withLinearRopeScaling(4f);
        assertEquals(new RopeScaling(RopeScaling.Type.LINEAR, 4f, 0, 0f, 0f), extended.ropeScaling());
        assertEquals(4 * cfg.contextLength(), extended.contextLength());
        double[] plain = Rope.inverseFrequencies(cfg.headDim(), cfg.ropeTheta(), cfg.ropeScaling());
        double[] pi = Rope.inverseFrequencies(extended.headDim(), extended.ropeTheta(), extended.ropeScaling());
        for (int i = 0; i < plain.length; i++) {
            assertEquals(plain[i] * (37 / 4.0), pi[i] * 37, 1e-12, "angle of position 37 = old angle of 37/4, pair " + i);
        }
        assertEquals(8f, extended.withLinearRopeScaling(2f).ropeScaling().factor(), "linear scalings compound");
        var llama3 = new dev.jlora.engine.model.LlamaConfig("llama", 16, 24, 1, 2, 1, 8, 11, 64, 1e-5f, 10000f,
                new RopeScaling(RopeScaling.Type.LLAMA3, 8f, 16, 1f, 4f), true, false, false);
        var e = org.junit.jupiter.api.Assertions.assertThrows(UnsupportedOperationException.class,
                () -> llama3.withLinearRopeScaling(2f));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("LLAMA3"), e.getMessage());
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> cfg.withLinearRopeScaling(0.5f));
    }
}
