package dev.jlora.quant;

/**
 * QLoRA's 4-bit NormalFloat data type (Dettmers et al. 2023, "QLoRA: Efficient Finetuning of Quantized LLMs",
 * §3 "4-bit NormalFloat Quantization" and "Double Quantization"), with the constants bitsandbytes publishes.
 *
 * <ul>
 *   <li>Weights: blocks of {@value #BLOCK} consecutive elements; per block absmax c = max|w|; code
 *       q = the NF4 level nearest to w/c (4 bits); w ≈ NF4[q]·c.</li>
 *   <li>Double quantization of the absmax values: their mean is subtracted, then they are quantized blockwise
 *       ({@value #DQ_BLOCK} per block, one fp32 absmax per block) to 8 bits with the signed dynamic map
 *       (bitsandbytes {@code create_dynamic_map(signed=True)}, the "8-bit float" of the paper).</li>
 *   <li>Storage: 4 + 8/64 + 32/(64·256) ≈ 4.127 bits per parameter (paper: 0.127 bits for the constants).</li>
 * </ul>
 */
public final class Nf4 {
    /** Elements per NF4 block (the paper's block size 64). */
    public static final int BLOCK = 64;
    /** absmax values per double-quantization block (the paper's block size 256). */
    public static final int DQ_BLOCK = 256;

    /**
     * The 16 NF4 levels as published in QLoRA's appendix and bitsandbytes ({@code functional.py},
     * {@code get_4bit_type("nf4")}): quantiles of N(0, 1) normalised to [−1, 1] with an exact zero.
     */
    private static final double[] LEVELS = {
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    };

    static final float[] CODE = new float[16];
    /** MID[k] = midpoint of levels k and k+1 (bitsandbytes' dQuantizeNF4 decision thresholds). */
    private static final float[] MID = new float[15];
    /** The 256 sorted values of the signed dynamic map, in [−1, 1]. */
    static final float[] DYNAMIC = dynamicMap();

    static {
        for (int i = 0; i < 16; i++) {
            CODE[i] = (float) LEVELS[i];
        }
        for (int i = 0; i < 15; i++) {
            MID[i] = (float) ((LEVELS[i] + LEVELS[i + 1]) / 2);
        }
    }

    private Nf4() {}

    /** A copy of the 16 NF4 levels. */
    public static float[] codebook() {
        return CODE.clone();
    }

    /** A copy of the 256 values of the signed 8-bit dynamic map used for the absmax values. */
    public static float[] dynamicMapValues() {
        return DYNAMIC.clone();
    }

    /** Nearest NF4 level to x (x in [−1, 1]); ties go up, as bitsandbytes' {@code x > threshold} tests. */
    static int encode(float x) {
        int q = 0;
        while (q < 15 && x > MID[q]) {
            q++;
        }
        return q;
    }

    /** Index of the dynamic-map value nearest to x (ties to the lower index). */
    static int encodeDynamic(float x) {
        int lo = 0, hi = DYNAMIC.length - 1;
        while (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            if (DYNAMIC[mid] <= x) lo = mid; else hi = mid;
        }
        return Math.abs(x - DYNAMIC[lo]) <= Math.abs(DYNAMIC[hi] - x) ? lo : hi;
    }

    /**
     * bitsandbytes {@code create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)}: for i = 0..6,
     * the 2^i midpoints of {@code linspace(0.1, 1, 2^i + 1)} scaled by 10^(i−6), with both signs; plus 0 and 1;
     * sorted. Computed in double and rounded once to float. bitsandbytes builds the same table with float32
     * {@code torch.linspace}, whose result depends on torch's vector width; its entries agree with these to
     * one float ulp (checked against a torch dump in Nf4Test).
     */
    private static float[] dynamicMap() {
        float[] data = new float[256];
        int n = 0;
        for (int i = 0; i < 7; i++) {
            int steps = 1 << i;
            double scale = Math.pow(10, -(7 - 1) + i);
            for (int k = 0; k < steps; k++) {
                double lo = 0.1 + 0.9 * k / steps, hi = 0.1 + 0.9 * (k + 1) / steps;
                float v = (float) (scale * ((lo + hi) / 2));
                data[n++] = v;
                data[n++] = -v;
            }
        }
        data[n++] = 0f;
        data[n++] = 1f;
        if (n != 256) {
            throw new AssertionError("dynamic map has " + n + " values");
        }
        java.util.Arrays.sort(data);
        return data;
    }

}
