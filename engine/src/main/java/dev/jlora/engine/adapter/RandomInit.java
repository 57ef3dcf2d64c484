package dev.jlora.engine.adapter;

import dev.jlora.quant.QuantMatrix;
import java.util.SplittableRandom;

/**
 * PEFT's random initialisations (Hu et al. 2021 §4.1: random A, zero B, "so ΔW = BA is zero at the beginning of
 * training"); the base is kept. {@link #KAIMING}: A ~ U(−1/√IC, 1/√IC), PyTorch {@code kaiming_uniform_(a=√5)},
 * PEFT's default (the same draws as {@link LoraAdapter#initKaimingUniform}). {@link #GAUSSIAN}: A ~ N(0, (1/r)²),
 * PEFT's {@code init_lora_weights="gaussian"}.
 */
public record RandomInit(String name, boolean gaussian) implements AdapterInit {
    public static final RandomInit KAIMING = new RandomInit("kaiming", false);
    public static final RandomInit GAUSSIAN = new RandomInit("gaussian", true);

    @Override
    public boolean replacesBase() {
        return false;
    }

    @Override
    public Factors init(QuantMatrix base, int rank, float scale, SplittableRandom rnd) {
        int IC = base.cols(), OC = base.rows();
        float[] a = new float[rank * IC];
        if (gaussian) {
            double std = 1.0 / rank;
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) (std * PissaInit.gaussian(rnd));
            }
        } else {
            fillUniform(a, kaimingBound(IC), rnd);
        }
        return new Factors(a, new float[OC * rank], null);
    }

    /**
     * The bound of PyTorch's {@code kaiming_uniform_(a=√5)} that PEFT draws LoRA's A from: gain·√(3 / fan_in)
     * with gain = √(2 / (1 + a²)), which is 1/√fan_in.
     */
    static double kaimingBound(int fanIn) {
        return Math.sqrt(2.0 / (1 + 5.0)) * Math.sqrt(3.0 / fanIn);
    }

    /** a[i] ~ U(−bound, bound), one {@code nextDouble()} per element in order (the draws saved seeds replay). */
    static void fillUniform(float[] a, double bound, SplittableRandom rnd) {
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) ((rnd.nextDouble() * 2 - 1) * bound);
        }
    }
}
