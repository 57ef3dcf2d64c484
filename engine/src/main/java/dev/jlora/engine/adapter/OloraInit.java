package dev.jlora.engine.adapter;

import dev.jlora.engine.linalg.Qr;
import dev.jlora.quant.QuantMatrix;
import java.util.SplittableRandom;

/**
 * OLoRA (Büyükakyüz 2024, "OLoRA: Orthonormal Low-Rank Adaptation of Large Language Models", arXiv:2406.01775, §3):
 * with the QR factorization W = Q·R, B = Q[:, :r] [OC × r] (orthonormal columns) and A = R[:r, :] [r × IC], and the
 * frozen base becomes W − s·B·A (PEFT's {@code olora_init} does not divide by s, so neither do we). Only the first r
 * Householder steps are computed ({@link Qr#householder(double[], int, int, int)}), O(OC·IC·r).
 * A quantized base is handled as in {@link PissaInit}.
 */
public record OloraInit() implements AdapterInit {

    @Override
    public String name() {
        return "olora";
    }

    @Override
    public boolean replacesBase() {
        return true;
    }

    @Override
    public Factors init(QuantMatrix base, int rank, float scale, SplittableRandom rnd) {
        int OC = base.rows(), IC = base.cols();
        if (rank > Math.min(OC, IC)) {
            throw new IllegalArgumentException("OLoRA rank " + rank + " exceeds min(OC, IC) of the " + OC + "×" + IC + " weight");
        }
        double[] w = AdapterInit.denseBase(base);
        Qr qr = Qr.householder(w, OC, IC, rank);
        float[] a = AdapterInit.toFloats(qr.r()), b = AdapterInit.toFloats(qr.q());
        return new Factors(a, b, AdapterInit.residual(w, b, a, scale, OC, IC, rank));
    }
}
