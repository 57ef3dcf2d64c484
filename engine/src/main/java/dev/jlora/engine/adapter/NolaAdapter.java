package dev.jlora.engine.adapter;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * NOLA (Koohpayegani, Navaneet, Nooralinejad, Kolouri and Pirsiavash 2024, "NOLA: Compressing LoRA using Linear
 * Combination of Random Basis", ICLR 2024, arXiv:2310.02556, §3 Eq. (2)): the LoRA factors are linear combinations of
 * frozen random bases, A = Σ_{i<k} α_i·A_i [r × IC] and B = Σ_{j<l} β_j·B_j [OC × r], ΔW = s·B·A with s = alpha / r;
 * only the coefficients α [k] and β [l] train. The bases are regenerated from a seed (the paper stores "the
 * coefficients and the seed of the random generator"), so {@link #buffers()} is empty.
 *
 * <p>Our choices where the paper leaves them open: bases drawn as LoRA's A (U(±1/√IC)) and U(±1/√r) for B's;
 * α ~ U(±1/√k) and β = 0, so ΔW = 0 at step 0 as in LoRA. The seed of one adapter is derived from
 * {@code basis_seed} and its (layer, target), so every layer has its own bases and a loaded adapter gets the same ones.
 */
public final class NolaAdapter extends DroppedInputAdapter {
    private final int r, k, l;
    private final float alpha, scale;
    private final long basisSeed;
    private final float[] basesA, basesB;   // [k × r × IC], [l × OC × r]
    private final Parameter coefA, coefB;

    /** The combined A, B used, h = xd·Aᵀ. */
    private record Saved(InputDropout drop, float[] a, float[] b, float[] h) implements TrainableAdapter.Saved {}

    /**
     * @param basisSeed {@code basis_seed} of the adapter set; the bases of this adapter are drawn from
     *                  {@link #adapterSeed}(basisSeed, layer, target)
     */
    public NolaAdapter(int inFeatures, int outFeatures, int rank, int basesA, int basesB, float alpha, float dropout,
                       long basisSeed, int layer, Target target) {
        if (inFeatures <= 0 || outFeatures <= 0 || rank <= 0 || basesA <= 0 || basesB <= 0) {
            throw new IllegalArgumentException("NOLA needs positive sizes, got IC=" + inFeatures + " OC=" + outFeatures
                    + " r=" + rank + " num_basis_A=" + basesA + " num_basis_B=" + basesB);
        }
        LoraConfig.checkAlpha("NOLA", alpha);
        if ((long) basesA * rank * inFeatures > Integer.MAX_VALUE - 8 || (long) basesB * outFeatures * rank > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("NOLA bases of " + basesA + "×" + rank + "×" + inFeatures + " or "
                    + basesB + "×" + outFeatures + "×" + rank + " do not fit in one Java array");
        }
        super("NOLA", inFeatures, outFeatures, dropout);
        this.r = rank;
        this.k = basesA;
        this.l = basesB;
        this.alpha = alpha;
        this.scale = alpha / rank;
        this.basisSeed = basisSeed;
        var rnd = new SplittableRandom(adapterSeed(basisSeed, layer, target));
        this.basesA = new float[k * r * IC];
        this.basesB = new float[l * OC * r];
        double boundA = 1 / Math.sqrt(IC), boundB = 1 / Math.sqrt(r);
        RandomInit.fillUniform(this.basesA, boundA, rnd);
        RandomInit.fillUniform(this.basesB, boundB, rnd);
        this.coefA = Parameter.zeros("nola_alpha", k);
        this.coefB = Parameter.zeros("nola_beta", l);
    }

    /** α ~ U(±1/√k) from {@code rnd}, β = 0. */
    public void initCoefficients(SplittableRandom rnd) {
        RandomInit.fillUniform(coefA.value(), 1 / Math.sqrt(k), rnd);
        java.util.Arrays.fill(coefB.value(), 0f);
    }

    public Parameter alphaCoefficients() {
        return coefA;
    }

    public Parameter betaCoefficients() {
        return coefB;
    }

    @Override
    public String method() {
        return "nola";
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(coefA, coefB);
    }

    @Override
    public Map<String, String> config() {
        var c = commonConfig(r, alpha);
        c.put("num_basis_A", Integer.toString(k));
        c.put("num_basis_B", Integer.toString(l));
        c.put("basis_seed", Long.toString(basisSeed));
        return c;
    }

    /** Σ_i c_i·bases[i] over {@code count} bases of {@code size} elements. */
    private static float[] combine(float[] bases, float[] c, int count, int size) {
        float[] out = new float[size];
        for (int i = 0; i < count; i++) {
            float ci = c[i];
            int off = i * size;
            for (int e = 0; e < size; e++) {
                out[e] += ci * bases[off + e];
            }
        }
        return out;
    }

    @Override
    Saved run(InputDropout drop, int T, float[] y) {
        float[] a = combine(basesA, coefA.value(), k, r * IC);
        float[] b = combine(basesB, coefB.value(), l, OC * r);
        float[] h = LowRankPath.forward(drop.xd(), a, b, scale, T, r, IC, OC, y);
        return new Saved(drop, a, b, h);
    }

    /**
     * As LoRA for the combined factors (gB = s·dyᵀ·h, dh = s·dy·B, gA = dhᵀ·xd), then through the combinations:
     * dα_i += ⟨A_i, gA⟩, dβ_j += ⟨B_j, gB⟩; dx += drop'(dh·A).
     */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("NOLA backward needs the state its own forwardTrain returned, got " + saved);
        }
        float[] gA = new float[r * IC], gB = new float[OC * r];
        LowRankPath.backward(dy, s.h(), s.drop(), s.a(), s.b(), scale, gA, gB, T, r, IC, OC, dx);
        project(basesA, gA, k, coefA.grad());
        project(basesB, gB, l, coefB.grad());
    }

    /** dc[i] += ⟨bases[i], g⟩. */
    private static void project(float[] bases, float[] g, int count, float[] dc) {
        int size = g.length;
        for (int i = 0; i < count; i++) {
            double acc = 0;
            for (int e = 0; e < size; e++) {
                acc += bases[i * size + e] * g[e];
            }
            dc[i] += (float) acc;
        }
    }

    /** w += s·B·A with the combined factors. */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        float[] a = combine(basesA, coefA.value(), k, r * IC);
        float[] b = combine(basesB, coefB.value(), l, OC * r);
        SmallMatmul.ab(w, scale, b, a, OC, IC, r, true);
    }

    /** Seed of the bases of the adapter on (layer, target): SplitMix64 of basis_seed and the position. */
    static long adapterSeed(long basisSeed, int layer, Target target) {
        return TrainableAdapterSet.mix(basisSeed, layer * 16L + target.ordinal());
    }
}
