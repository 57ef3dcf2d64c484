package dev.jlora.engine.adapter;

import dev.jlora.engine.linalg.RandomizedSvd;
import dev.jlora.engine.linalg.Svd;
import dev.jlora.quant.QuantMatrix;
import java.util.SplittableRandom;

/**
 * PiSSA (Meng, Wang and Zhang 2024, "PiSSA: Principal Singular Values and Singular Vectors Adaptation of Large
 * Language Models", arXiv:2404.02948, §3): with W = U·S·Vᵀ, the adapter starts from the top-r singular triplets,
 * A = √S_r·V_rᵀ [r × IC] and B = U_r·√S_r [OC × r], and the frozen base becomes the residual
 * W_res = W − U_r·S_r·V_rᵀ. As in PEFT's {@code pissa_init}, S_r is divided by the scale s first, so that
 * s·B·A = U_r·S_r·V_rᵀ exactly and W_res + s·B·A = W for any alpha. §3 also proposes the fast randomized SVD
 * (Halko et al. 2011) for large W; {@code powerIters ≥ 0} forces it (PEFT's {@code pissa_niter_N}), −1 lets
 * {@link Svd#truncated} choose by size.
 *
 * <p>With a quantized base (QLoRA-style PiSSA, §3 and §5.3), the SVD is taken of the dequantized W and the residual is
 * quantized again to the base's type by {@link AdaptedModel}; that rounding is the only difference from W at step 0
 * and is reported there.
 */
public record PissaInit(int powerIters) implements AdapterInit {

    public PissaInit {
        if (powerIters < -1) {
            throw new IllegalArgumentException("PiSSA power iterations must be ≥ 0 (or −1 for automatic), got " + powerIters);
        }
    }

    @Override
    public String name() {
        return powerIters < 0 ? "pissa" : "pissa_niter_" + powerIters;
    }

    @Override
    public boolean replacesBase() {
        return true;
    }

    @Override
    public Factors init(QuantMatrix base, int rank, float scale, SplittableRandom rnd) {
        int OC = base.rows(), IC = base.cols();
        if (rank > Math.min(OC, IC)) {
            throw new IllegalArgumentException("PiSSA rank " + rank + " exceeds min(OC, IC) of the " + OC + "×" + IC + " weight");
        }
        double[] w = AdapterInit.denseBase(base);
        Svd svd = powerIters < 0
                ? Svd.truncated(w, OC, IC, rank, rnd)
                : RandomizedSvd.decompose(w, OC, IC, rank, RandomizedSvd.DEFAULT_OVERSAMPLE, powerIters, rnd);
        double[] a = new double[rank * IC], b = new double[OC * rank];
        for (int j = 0; j < rank; j++) {
            double root = Math.sqrt(svd.s()[j] / scale);
            for (int i = 0; i < IC; i++) {
                a[j * IC + i] = root * svd.vt()[j * IC + i];
            }
            for (int o = 0; o < OC; o++) {
                b[o * rank + j] = svd.u()[o * rank + j] * root;
            }
        }
        float[] af = AdapterInit.toFloats(a), bf = AdapterInit.toFloats(b);
        return new Factors(af, bf, AdapterInit.residual(w, bf, af, scale, OC, IC, rank));
    }

    /** A standard normal draw from {@code rnd}. */
    static double gaussian(SplittableRandom rnd) {
        double u1 = rnd.nextDouble(), u2 = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log1p(-u1)) * Math.cos(2 * Math.PI * u2);
    }
}
