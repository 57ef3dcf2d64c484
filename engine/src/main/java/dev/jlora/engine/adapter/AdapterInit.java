package dev.jlora.engine.adapter;

import dev.jlora.quant.QuantMatrix;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * How the factors A [r × IC] and B [OC × r] of a low-rank adapter (ΔW = s·B·A) start, and whether the frozen base
 * changes with them. Random initialisations ({@link RandomInit}) keep the base and start at ΔW = 0; principal
 * initialisations ({@link PissaInit}, {@link OloraInit}) move a rank-r part of W into the adapter and leave the
 * residual W − s·B·A as the new frozen base, so the model is unchanged at step 0 (see {@link AdaptedModel}).
 * Selected on the command line with {@code --init}.
 */
public interface AdapterInit {

    /** Name as accepted by {@link #parse} and written into adapter metadata ({@code init}). */
    String name();

    /** Whether {@link #init} returns a residual that must replace the frozen base. */
    boolean replacesBase();

    /**
     * The starting factors for an adapter on {@code base} with rank r and scale s.
     *
     * @return A [r × IC], B [OC × r] and, when {@link #replacesBase()}, the residual W − s·B·A [OC × IC] (dense fp32)
     */
    Factors init(QuantMatrix base, int rank, float scale, SplittableRandom rnd);

    /** Initial factors; {@code residual} is null when the base stays as it is. */
    record Factors(float[] a, float[] b, float[] residual) {}

    /**
     * {@code kaiming} (PEFT's default, also {@code default}/{@code true}), {@code gaussian}, {@code pissa} (exact or
     * randomized SVD chosen by size), {@code pissa_niter_N} (randomized SVD with N power iterations, as PEFT names it),
     * {@code olora}.
     */
    static AdapterInit parse(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        if (n.startsWith("pissa_niter_")) {
            try {
                return new PissaInit(Integer.parseInt(n.substring("pissa_niter_".length())));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("init '" + name + "': expected pissa_niter_N with N a whole number");
            }
        }
        return switch (n) {
            case "kaiming", "default", "true", "lora" -> RandomInit.KAIMING;
            case "gaussian" -> RandomInit.GAUSSIAN;
            case "pissa" -> new PissaInit(-1);
            case "olora" -> new OloraInit();
            default -> throw new IllegalArgumentException("unknown init '" + name
                    + "': expected kaiming, gaussian, pissa, pissa_niter_N or olora");
        };
    }

    /** The frozen weight W [OC × IC] dequantized row by row into float64 (the factorizations work in float64). */
    static double[] denseBase(QuantMatrix base) {
        int OC = base.rows(), IC = base.cols();
        if ((long) OC * IC > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("base weight " + OC + "×" + IC + " does not fit in one Java array");
        }
        double[] w = new double[OC * IC];
        float[] row = new float[IC];
        for (int o = 0; o < OC; o++) {
            base.dequantizeRow(o, row, 0);
            for (int i = 0; i < IC; i++) {
                w[o * IC + i] = row[i];
            }
        }
        return w;
    }

    /**
     * W − s·B·A [OC × IC] in float64 from the fp32 factors the adapter will hold (so that the fp32 residual plus the
     * adapter's own ΔW reproduces W up to one fp32 rounding), rounded once to fp32.
     */
    static float[] residual(double[] w, float[] b, float[] a, double s, int OC, int IC, int r) {
        float[] out = new float[OC * IC];
        double[] row = new double[IC];
        for (int o = 0; o < OC; o++) {
            java.util.Arrays.fill(row, 0);
            for (int j = 0; j < r; j++) {
                double bj = b[o * r + j];
                for (int i = 0; i < IC; i++) {
                    row[i] += bj * a[j * IC + i];
                }
            }
            for (int i = 0; i < IC; i++) {
                out[o * IC + i] = (float) (w[o * IC + i] - s * row[i]);
            }
        }
        return out;
    }

    static float[] toFloats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }
}
