package dev.jlora.engine.adapter;

import dev.jlora.engine.linalg.Svd;
import dev.jlora.quant.QuantMatrix;
import java.util.Map;

/**
 * LoRA-GA (Wang, Yu and Li 2024, "LoRA-GA: Low-Rank Adaptation with Gradient Approximation", NeurIPS 2024,
 * arXiv:2407.05000, §3.2–3.3 and Algorithm 1): with the SVD G = U·S·Vᵀ of the full weight gradient ∂L/∂W averaged over
 * a few minibatches, A = c·V[:, 1:r]ᵀ and B = c·U[:, r+1:2r], so that the first step of LoRA moves s·B·A along
 * −(G·AᵀA + BBᵀ·G) = −c²·(the best rank-2r approximation of G) (§3.2, Theorem 3.1: the LoRA update then matches
 * full fine-tuning's gradient as closely as rank 2r allows). c = ⁴√OC / √γ is the "stable output" scale of §3.3
 * (γ = {@code stable_gamma}, 16 in the paper and its code). The frozen base becomes W − s·B·A so the model is
 * unchanged at step 0; a quantized residual is stored again in the base's type by {@link AdaptedModel}, as for PiSSA.
 *
 * <p>Which slices go where: the authors' code (github.com/Outsider565/LoRA-GA, default {@code direction="ArB2r"})
 * takes A from the first r right-singular vectors and B from left-singular vectors r+1…2r; we follow it. Exact SVD
 * (Jacobi) for small layers, randomized otherwise ({@link Svd#truncated}), as the reference's {@code svd_lowrank}.
 */
public final class LoraGaInit {
    private LoraGaInit() {}

    /** Method-arg keys and defaults. */
    public static final Map<String, String> KEYS = Map.of("init_batches", "8", "stable_gamma", "16");

    /** LoRA on every layer of {@code gradients}: A, B from that layer's gradient, the base replaced by W − s·B·A. */
    public static ResidualAdapterFactory factory(Map<InitProbe.Site, float[]> gradients, LoraConfig cfg, float gamma) {
        if (!(gamma > 0) || Float.isInfinite(gamma)) {
            throw new IllegalArgumentException("LoRA-GA: stable_gamma must be a positive number, got " + gamma);
        }
        return (layer, target, base, rnd) -> {
            float[] g = gradients.get(new InitProbe.Site(layer, target));
            if (g == null) {
                throw new IllegalArgumentException("LoRA-GA: no gradient for layer " + layer + " " + target.hfName());
            }
            var lora = new LoraAdapter(base.cols(), base.rows(), cfg.rank(), cfg.alpha(), cfg.dropout(), cfg.rsLora());
            Factors f = factors(g, base, cfg.rank(), gamma, rnd);
            System.arraycopy(f.a(), 0, lora.loraA().value(), 0, f.a().length);
            System.arraycopy(f.b(), 0, lora.loraB().value(), 0, f.b().length);
            double[] w = AdapterInit.denseBase(base);
            return new ResidualAdapterFactory.Created(lora, AdapterInit.residual(w, f.b(), f.a(), lora.scale(),
                    base.rows(), base.cols(), cfg.rank()));
        };
    }

    /** A [r × IC], B [OC × r]. */
    record Factors(float[] a, float[] b) {}

    /** A = c·V[:, 1:r]ᵀ, B = c·U[:, r+1:2r] of the gradient g [OC × IC] of the layer {@code base}. */
    static Factors factors(float[] g, QuantMatrix base, int r, float gamma, java.util.SplittableRandom rnd) {
        int OC = base.rows(), IC = base.cols();
        if (2 * r > Math.min(OC, IC)) {
            throw new IllegalArgumentException("LoRA-GA needs 2·rank ≤ min(OC, IC); rank " + r + " is too large for the "
                    + OC + "×" + IC + " weight");
        }
        Svd svd = Svd.truncated(WeightGradients.toDoubles(g), OC, IC, 2 * r, rnd);
        double c = Math.pow(OC, 0.25) / Math.sqrt(gamma);
        float[] a = new float[r * IC], b = new float[OC * r];
        for (int j = 0; j < r; j++) {
            for (int i = 0; i < IC; i++) {
                a[j * IC + i] = (float) (c * svd.vt()[j * IC + i]);
            }
            for (int o = 0; o < OC; o++) {
                b[o * r + j] = (float) (c * svd.u()[o * svd.k() + r + j]);
            }
        }
        return new Factors(a, b);
    }
}
