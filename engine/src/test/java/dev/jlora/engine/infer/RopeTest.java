package dev.jlora.engine.infer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.jlora.engine.io.Json;
import dev.jlora.engine.model.LlamaConfig.RopeScaling;
import dev.jlora.simd.RopeTables;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class RopeTest {
    static final Path PYTHON = Path.of("/usr/bin/python3");
    static final Path SCRIPT = Path.of("..", "tools", "rope_reference.py");

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
     * Inverse frequencies and attention factor against {@code tools/rope_reference.py}, a numpy float64 transcription
     * of Hugging Face's {@code _compute_llama3_parameters} / {@code _compute_yarn_parameters}. Both compute in
     * double from the same float parameters: 1e-12 relative.
     */
    @ParameterizedTest(name = "hs={0} theta={1} {2}")
    @CsvSource({
            "128, 500000, llama3, 8, 8192, 1, 4,",
            "128, 500000, llama3, 32, 8192, 1, 4,",
            "64, 10000, llama3, 4, 256, 2, 8,",
            "128, 1000000, yarn, 4, 32768, 32, 1,",      // Qwen2.5's YaRN config
            "64, 10000, yarn, 16, 4096, 32, 1,",
            "128, 150000, yarn, 32, 4096, 32, 1, 1.2",   // explicit attention_factor
            "16, 10000, yarn, 4, 16, 32, 1,",            // ramp bounds clamped at 0 and hs−1
            "8, 10000, yarn, 2, 64, 3, 2,"})             // floor == ceil: HF's 0.001 span
    void frequenciesMatchTheHuggingFaceTranscription(int hs, float theta, String kind, float factor, int ctx,
                                                     float p1, float p2, Float attention) throws Exception {
        RopeScaling s = kind.equals("llama3")
                ? new RopeScaling(RopeScaling.Type.LLAMA3, factor, ctx, p1, p2)
                : RopeScaling.yarn(factor, ctx, p1, p2, attention != null ? attention : RopeScaling.yarnMscale(factor, 1));
        List<String> args = new ArrayList<>(List.of(String.valueOf(hs), String.valueOf(theta), kind,
                String.valueOf(factor), String.valueOf(ctx), String.valueOf(p1), String.valueOf(p2)));
        if (attention != null) {
            args.add(String.valueOf(attention));
        }
        Map<String, Object> ref = runReference(args);
        @SuppressWarnings("unchecked") List<Object> want = (List<Object>) ref.get("inv_freq");
        double[] got = Rope.inverseFrequencies(hs, theta, s);
        assertEquals(want.size(), got.length, "number of frequencies");
        boolean scaled = false;
        for (int i = 0; i < got.length; i++) {
            double w = ((Number) want.get(i)).doubleValue();
            assertEquals(w, got[i], 1e-12 * w, kind + " inv_freq[" + i + "]");
            scaled |= Math.abs(w - Math.pow(theta, -2.0 * i / hs)) > 1e-9 * w;
        }
        assertTrue(scaled, "the case scales at least one frequency (else it tests nothing)");
        // float: the factor is stored in a float (HF keeps a Python float)
        assertEquals(((Number) ref.get("attention_factor")).doubleValue(), Rope.attentionFactor(s), 1e-6,
                "attention factor");
    }

    /** LLAMA3 as HF computes it and as llama.cpp's rope_freqs.weight divisors give the same frequencies. */
    @Test
    void llama3DivisorsGiveTheLlama3Frequencies() {
        RopeScaling llama3 = new RopeScaling(RopeScaling.Type.LLAMA3, 8f, 8192, 1f, 4f);
        double[] divisors = Rope.llama3Factors(128, 500000f, llama3);
        float[] stored = new float[divisors.length];
        for (int i = 0; i < stored.length; i++) {
            stored[i] = (float) divisors[i];
        }
        double[] want = Rope.inverseFrequencies(128, 500000f, llama3);
        double[] got = Rope.inverseFrequencies(128, 500000f, RopeScaling.frequencyFactors(stored));
        for (int i = 0; i < want.length; i++) {
            // the divisors pass through float32, as in the GGUF tensor: 2^-24 relative
            assertEquals(want[i], got[i], 1e-7 * want[i], "inv_freq[" + i + "]");
        }
        assertEquals(1.0, divisors[0], 0.0, "highest frequency kept");
        assertEquals(8.0, divisors[63], 0.0, "lowest frequency divided by the factor");
    }

    /** YaRN's temperature multiplies the tables: |(cos, sin)| = attention factor at every position and pair. */
    @Test
    void yarnTablesCarryTheAttentionFactor() {
        var cfg = new dev.jlora.engine.model.LlamaConfig("llama", 16, 32, 1, 2, 2, 8, 10, 64, 1e-5f, 10000f,
                RopeScaling.yarn(4f, 16, 32f, 1f, RopeScaling.yarnMscale(4, 1)), true, false, false);
        RopeTables t = Rope.tables(cfg, 9);
        double m = 0.1 * Math.log(4) + 1;   // YaRN §3.4
        for (int i = 0; i < t.cos().length; i++) {
            assertEquals(m, Math.hypot(t.cos()[i], t.sin()[i]), 1e-6, "entry " + i);
        }
    }

    @Test
    void badScalingValuesNameTheField() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> Rope.inverseFrequencies(64, 1e4f, RopeScaling.yarn(4f, 0, 32f, 1f, 1f)));
        assertEquals("yarn rope scaling original_max_position_embeddings must be a positive number, got 0.0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Rope.inverseFrequencies(64, 1e4f, RopeScaling.yarn(-2f, 4096, 32f, 1f, 1f)));
        assertEquals("yarn rope scaling factor must be a positive number, got -2.0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Rope.attentionFactor(RopeScaling.yarn(2f, 4096, 32f, 1f, Float.NaN)));
        assertEquals("yarn rope scaling attention_factor must be a positive number, got NaN", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Rope.inverseFrequencies(64, 1e4f, RopeScaling.frequencyFactors(new float[3])));
        assertEquals("rope frequency factors: need one per rotated pair (head size 64 / 2 = 32), got 3", e.getMessage());
    }

    /** Runs the numpy reference; skips without python3/numpy only outside CI, where the reference is required. */
    private static Map<String, Object> runReference(List<String> args) throws Exception {
        String why = null;
        if (!Files.isExecutable(PYTHON)) {
            why = PYTHON + " not found";
        }
        if (why == null) {
            List<String> cmd = new ArrayList<>(List.of(PYTHON.toString(), SCRIPT.toString()));
            cmd.addAll(args);
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (p.waitFor() == 0) {
                @SuppressWarnings("unchecked") Map<String, Object> m = (Map<String, Object>) Json.parse(out.strip());
                return m;
            }
            if (!out.contains("No module named 'numpy'")) {
                fail(SCRIPT + " " + args + " failed:\n" + out);
            }
            why = "python3 has no numpy";
        }
        if (System.getenv("CI") != null) {
            fail(why + " (under CI the numpy rope reference is required: apt-get install python3-numpy)");
        }
        assumeTrue(false, why);
        return Map.of();
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
