package dev.jlora.engine.merge;

import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.linalg.Svd;
import java.util.List;

/**
 * A weight update in factored form, ΔW = B·A in float64, B [OC × R], A [R × IC], with any LoRA scale and merge
 * weight folded into B. Sums of LoRAs stay factored (concatenate the factors), so linear merging and its rank
 * reduction never form the OC × IC matrix.
 */
public record LowRankDelta(double[] b, double[] a, int OC, int IC, int rank) {

    public LowRankDelta {
        if (b.length != (long) OC * rank || a.length != (long) rank * IC) {
            throw new IllegalArgumentException("low-rank delta: B must be " + OC + "×" + rank + " and A " + rank + "×"
                    + IC + ", got " + b.length + " and " + a.length + " values");
        }
    }

    /** weight·s·B·A of a LoRA adapter (s = alpha / r, or alpha / √r for rsLoRA). */
    public static LowRankDelta of(LoraAdapter lora, double weight) {
        int OC = lora.outFeatures(), IC = lora.inFeatures(), r = lora.rank();
        float[] bv = lora.loraB().value(), av = lora.loraA().value();
        double f = weight * lora.scale();
        double[] b = new double[bv.length], a = new double[av.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = f * bv[i];
        }
        for (int i = 0; i < a.length; i++) {
            a[i] = av[i];
        }
        return new LowRankDelta(b, a, OC, IC, r);
    }

    /** Σ of the parts as one factored update: B = [B₁ | B₂ | …], A = [A₁; A₂; …] (rank Σ Rᵢ). */
    public static LowRankDelta concat(List<LowRankDelta> parts) {
        LowRankDelta first = parts.getFirst();
        int OC = first.OC, IC = first.IC, total = 0;
        for (LowRankDelta p : parts) {
            if (p.OC != OC || p.IC != IC) {
                throw new IllegalArgumentException("cannot add a " + p.OC + "×" + p.IC + " update to a " + OC + "×" + IC + " one");
            }
            total += p.rank;
        }
        double[] b = new double[OC * total], a = new double[total * IC];
        int col = 0;
        for (LowRankDelta p : parts) {
            for (int o = 0; o < OC; o++) {
                System.arraycopy(p.b, o * p.rank, b, o * total + col, p.rank);
            }
            System.arraycopy(p.a, 0, a, col * IC, p.rank * IC);
            col += p.rank;
        }
        return new LowRankDelta(b, a, OC, IC, total);
    }

    /** B·A as a dense row-major [OC × IC] array. */
    public double[] dense() {
        double[] w = new double[OC * IC];
        for (int o = 0; o < OC; o++) {
            for (int j = 0; j < rank; j++) {
                double f = b[o * rank + j];
                if (f == 0) {
                    continue;
                }
                for (int i = 0; i < IC; i++) {
                    w[o * IC + i] += f * a[j * IC + i];
                }
            }
        }
        return w;
    }

    /** The exact SVD of B·A through the factors ({@link Svd#ofProduct}). */
    public Svd svd() {
        return Svd.ofProduct(b, a, OC, rank, IC);
    }

    /** ‖B·A‖_F = √trace((BᵀB)·(AAᵀ)), from the R × R Gram matrices. */
    public double frobeniusNorm() {
        double[] btb = new double[rank * rank], aat = new double[rank * rank];
        for (int o = 0; o < OC; o++) {
            for (int p = 0; p < rank; p++) {
                for (int q = 0; q < rank; q++) {
                    btb[p * rank + q] += b[o * rank + p] * b[o * rank + q];
                }
            }
        }
        for (int p = 0; p < rank; p++) {
            for (int q = 0; q < rank; q++) {
                double s = 0;
                for (int i = 0; i < IC; i++) {
                    s += a[p * IC + i] * a[q * IC + i];
                }
                aat[p * rank + q] = s;
            }
        }
        double tr = 0;
        for (int i = 0; i < btb.length; i++) {
            tr += btb[i] * aat[i];   // both symmetric: trace(X·Y) = Σ X∘Y
        }
        return Math.sqrt(Math.max(0, tr));
    }
}
