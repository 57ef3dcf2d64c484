package dev.jlora.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.simd.testing.Rand;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** QLoRA NF4 with double quantization: constants, error bounds, bits per parameter. */
class Nf4Test {

    /** Round-trip RMSE on N(0, 1) weights relative to σ, about 10% above the 0.0918 measured with this seed (Q4_0: 0.084 on 32-blocks). */
    static final double MAX_RMSE_NF4 = 0.101;

    @Test
    void codebookEqualsPublishedConstants() {
        // QLoRA appendix E / bitsandbytes get_4bit_type("nf4"), as float32.
        float[] published = {
            -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
            -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
            0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
            0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
        assertArrayEquals(published, Nf4.codebook());
    }

    @Test
    void encodePicksTheNearestLevel() {
        float[] c = Nf4.codebook();
        var rnd = new SplittableRandom(3);
        for (int k = 0; k < 10_000; k++) {
            float x = (float) rnd.nextDouble(-1, 1);
            int q = Nf4.encode(x);
            for (int j = 0; j < 16; j++) {
                assertTrue(Math.abs(x - c[q]) <= Math.abs(x - c[j]), "x=" + x + " coded " + q + " but " + j + " is nearer");
            }
        }
        for (int j = 0; j < 16; j++) assertEquals(j, Nf4.encode(c[j]), "level " + j + " codes to itself");
    }

    @Test
    void dynamicMapHas256SortedSignedValues() {
        float[] d = Nf4.dynamicMapValues();
        assertEquals(256, d.length);
        for (int i = 1; i < 256; i++) assertTrue(d[i - 1] <= d[i], "sorted at " + i);
        assertEquals(-0.99296875f, d[0], 1e-7f, "most negative: −(0.1 + 0.9·127/128)");
        assertEquals(1f, d[255]);
        // create_dynamic_map(signed=True) for 8 bits: 127 positive and 127 negative means, plus 0 and 1.
        long zeros = java.util.stream.IntStream.range(0, 256).filter(i -> d[i] == 0f).count();
        assertEquals(1, zeros);
    }

    @Test
    void dynamicMapMatchesBitsandbytesWithinOneUlp() throws java.io.IOException {
        // Fixture: bitsandbytes' create_dynamic_map(signed=True) evaluated with torch (float32 linspace).
        try (var in = Nf4Test.class.getResourceAsStream("bnb-dynamic-map.txt")) {
            var values = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).lines()
                    .filter(l -> !l.startsWith("#") && !l.isBlank()).mapToDouble(Double::parseDouble).toArray();
            assertEquals(256, values.length);
            float[] d = Nf4.dynamicMapValues();
            for (int i = 0; i < 256; i++) {
                float want = (float) values[i];
                assertEquals(want, d[i], Math.ulp(want), "dynamic map entry " + i);
            }
        }
    }

    @Test
    void roundTripOnGaussianWeightsWithinNamedBound() {
        var rnd = new SplittableRandom(11);
        int rows = 64, cols = 1024;
        float[] w = Rand.gaussians(rnd, rows * cols, 0, 1);
        var m = (Nf4Matrix) QuantType.NF4.quantize(w, rows, cols);
        float[] row = new float[cols];
        double se = 0;
        for (int o = 0; o < rows; o++) {
            m.dequantizeRow(o, row, 0);
            for (int i = 0; i < cols; i++) se += Math.pow(w[o * cols + i] - row[i], 2);
        }
        double rmse = Math.sqrt(se / (rows * cols));
        assertTrue(rmse <= MAX_RMSE_NF4, "NF4 round-trip RMSE " + rmse + " > " + MAX_RMSE_NF4);
    }

    @Test
    void doubleQuantizedAbsmaxWithinHalfAStepOfTheDynamicMap() {
        var rnd = new SplittableRandom(12);
        int rows = 96, cols = 768; // 1152 blocks: four full groups of 256 and one partial
        float[] w = Rand.gaussians(rnd, rows * cols, 0, 0.02f);
        var m = (Nf4Matrix) QuantType.NF4.quantize(w, rows, cols);
        float[] d = Nf4.dynamicMapValues();
        double maxHalfGap = 0;
        for (int i = 1; i < 256; i++) maxHalfGap = Math.max(maxHalfGap, (d[i] - d[i - 1]) / 2.0);
        // Largest half-gap of the map is 0.45/64 ≈ 0.00703 (top decade, 64 steps over 0.1..1).
        assertTrue(maxHalfGap < 0.0071, "max half gap " + maxHalfGap);
        double mean = 0;
        float[] exact = new float[m.blocks()];
        for (int b = 0; b < m.blocks(); b++) {
            float a = 0;
            for (int i = 0; i < Nf4.BLOCK; i++) a = Math.max(a, Math.abs(w[b * Nf4.BLOCK + i]));
            exact[b] = a;
            mean += a;
        }
        mean /= m.blocks();
        for (int g = 0; g * 256 < m.blocks(); g++) {
            double scale = 0;
            for (int b = g * 256; b < Math.min(m.blocks(), g * 256 + 256); b++) {
                scale = Math.max(scale, Math.abs(exact[b] - mean));
            }
            for (int b = g * 256; b < Math.min(m.blocks(), g * 256 + 256); b++) {
                double err = Math.abs(m.absmax(b) - exact[b]);
                // half a map step of the group's scale, plus float rounding of (code·scale + mean)
                double bound = maxHalfGap * scale + 4 * Math.ulp((float) mean);
                assertTrue(err <= bound, "block " + b + ": absmax " + exact[b] + " stored as " + m.absmax(b)
                        + " (error " + err + " > " + bound + ")");
            }
        }
    }

    @Test
    void bitsPerParameterIsAbout4point127() {
        var m = (Nf4Matrix) QuantType.NF4.quantize(new float[4096 * 64], 64, 4096);
        // 4 + 8/64 + 32/(64·256) = 4.126953…, plus one fp32 mean over 262144 weights.
        assertEquals(4.127, m.bitsPerParameter(), 5e-4);
        assertEquals(4 + 8.0 / 64 + 32.0 / (64 * 256) + 32.0 / (4096 * 64), m.bitsPerParameter(), 1e-12);
    }

    @Test
    void nf4RejectsRowsNotMultipleOf64() {
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> QuantType.NF4.quantize(new float[96], 1, 96));
        assertTrue(e.getMessage().contains("divisible by 64, got 96"), e.getMessage());
    }
}
