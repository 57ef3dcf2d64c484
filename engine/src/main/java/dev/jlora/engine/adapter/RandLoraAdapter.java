package dev.jlora.engine.adapter;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * RandLoRA (Albert, Zhang, Saratchandran, Rodriguez-Opazo, van den Hengel and Abbasnejad 2025, "RandLoRA: Full-rank
 * parameter-efficient fine-tuning of large models", ICLR 2025, arXiv:2502.00987, §4): a full-rank update as a sum of
 * N = ⌈min(IC, OC) / r⌉ scaled random low-rank terms, ΔW = s·Σ_b B_b·diag(λ_b)·A_b·diag(γ_b), s = alpha / r, with
 * frozen random bases A_b [r × IC], B_b [OC × r] shared by all layers and trainable diagonals λ_b [r] and γ_b [IC].
 * As PEFT's {@code RandLoraLayer}: λ starts at 0 (ΔW = 0), γ at 1 / max(IC, OC); the shared bases have the largest
 * sizes of the adapted layers and each layer uses their leading blocks (like VeRA); they are regenerated from
 * {@code projection_prng_key} rather than saved. Difference from PEFT: γ always scales the input side (PEFT puts it
 * on the smaller of the two sides, which is the input side for every projection but down_proj).
 */
public final class RandLoraAdapter extends DroppedInputAdapter {
    private final int r, n;
    private final float alpha, scale;
    private final Bases shared;
    private final float[] a, b;              // this layer's slices: [n × r × IC], [n × OC × r]
    private final Parameter lambda, gamma;   // [n × r], [n × IC]

    /** h_b = (xd ⊙ γ_b)·A_bᵀ, all b: [n × T × r]. */
    private record Saved(InputDropout drop, float[] h) implements TrainableAdapter.Saved {}

    /** The frozen shared bases: A [nMax × r × maxIn], B [nMax × maxOut × r], U(±1/√fan_in) from {@code seed}. */
    public record Bases(int rank, int nMax, int maxIn, int maxOut, long seed, float[] a, float[] b) {
        public static Bases generate(int rank, int maxIn, int maxOut, long seed) {
            if (rank <= 0 || maxIn <= 0 || maxOut <= 0) {
                throw new IllegalArgumentException("RandLoRA bases need positive rank and sizes, got r=" + rank
                        + " in=" + maxIn + " out=" + maxOut);
            }
            int nMax = (Math.min(maxIn, maxOut) + rank - 1) / rank;
            if ((long) nMax * rank * Math.max(maxIn, maxOut) > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("RandLoRA bases of " + nMax + "×" + rank + "×" + Math.max(maxIn, maxOut)
                        + " do not fit in one Java array");
            }
            var rnd = new SplittableRandom(seed);
            float[] a = new float[nMax * rank * maxIn], b = new float[nMax * maxOut * rank];
            double ba = 1 / Math.sqrt(maxIn), bb = 1 / Math.sqrt(rank);
            RandomInit.fillUniform(a, ba, rnd);
            RandomInit.fillUniform(b, bb, rnd);
            return new Bases(rank, nMax, maxIn, maxOut, seed, a, b);
        }
    }

    public RandLoraAdapter(int inFeatures, int outFeatures, Bases shared, float alpha, float dropout) {
        if (inFeatures <= 0 || outFeatures <= 0 || inFeatures > shared.maxIn() || outFeatures > shared.maxOut()) {
            throw new IllegalArgumentException("RandLoRA layer " + outFeatures + "×" + inFeatures
                    + " does not fit the shared bases (max " + shared.maxOut() + "×" + shared.maxIn() + ")");
        }
        LoraConfig.checkAlpha("RandLoRA", alpha);
        super("RandLoRA", inFeatures, outFeatures, dropout);
        this.r = shared.rank();
        this.n = (Math.min(IC, OC) + r - 1) / r;
        this.alpha = alpha;
        this.scale = alpha / r;
        this.shared = shared;
        this.a = new float[n * r * IC];
        this.b = new float[n * OC * r];
        for (int k = 0; k < n; k++) {
            for (int j = 0; j < r; j++) {
                System.arraycopy(shared.a(), (k * r + j) * shared.maxIn(), a, (k * r + j) * IC, IC);
            }
            System.arraycopy(shared.b(), k * shared.maxOut() * r, b, k * OC * r, OC * r);
        }
        this.lambda = Parameter.zeros("randlora_lambda", n, r);
        this.gamma = Parameter.zeros("randlora_gamma", n, IC);
        java.util.Arrays.fill(gamma.value(), 1f / Math.max(IC, OC));
    }

    /** N: the number of terms, ⌈min(IC, OC) / r⌉. */
    public int terms() {
        return n;
    }

    public Parameter lambda() {
        return lambda;
    }

    public Parameter gamma() {
        return gamma;
    }

    @Override
    public String method() {
        return "randlora";
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(lambda, gamma);
    }

    @Override
    public Map<String, String> config() {
        var c = commonConfig(r, alpha);
        c.put("projection_prng_key", Long.toString(shared.seed()));
        return c;
    }

    /** For each term: h_b = (xd ⊙ γ_b)·A_bᵀ; y += s·(h_b ⊙ λ_b)·B_bᵀ. */
    @Override
    Saved run(InputDropout drop, int T, float[] y) {
        float[] xd = drop.xd();
        float[] h = new float[n * T * r];
        float[] xg = new float[T * IC], hb = new float[T * r], g = new float[T * r];
        float[] bt = new float[r * OC];
        for (int k = 0; k < n; k++) {
            for (int t = 0; t < T; t++) {
                for (int i = 0; i < IC; i++) {
                    xg[t * IC + i] = xd[t * IC + i] * gamma.value()[k * IC + i];
                }
            }
            SmallMatmul.abt(hb, xg, slice(a, k * r * IC, r * IC), T, r, IC);
            System.arraycopy(hb, 0, h, k * T * r, T * r);
            for (int t = 0; t < T; t++) {
                for (int j = 0; j < r; j++) {
                    g[t * r + j] = hb[t * r + j] * lambda.value()[k * r + j];
                }
            }
            transposeInto(b, k * OC * r, OC, r, bt);
            SmallMatmul.ab(y, scale, g, bt, T, OC, r, true);
        }
        return new Saved(drop, h);
    }

    private static float[] slice(float[] src, int off, int len) {
        return java.util.Arrays.copyOfRange(src, off, off + len);
    }

    /** dst [cols × rows] = src[off …] [rows × cols] transposed. */
    private static void transposeInto(float[] src, int off, int rows, int cols, float[] dst) {
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                dst[j * rows + i] = src[off + i * cols + j];
            }
        }
    }

    /**
     * Per term: dg = s·dy·B_b; dλ_b += Σ_t dg ⊙ h_b; dh = dg ⊙ λ_b; d(xγ) = dh·A_b; dγ_b += Σ_t d(xγ) ⊙ xd;
     * dxd += d(xγ) ⊙ γ_b; dx += drop'(dxd).
     */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("RandLoRA backward needs the state its own forwardTrain returned, got " + saved);
        }
        float[] xd = s.drop().xd();
        float[] dg = new float[T * r], dxg = new float[T * IC], dxd = new float[T * IC];
        for (int k = 0; k < n; k++) {
            SmallMatmul.ab(dg, scale, dy, slice(b, k * OC * r, OC * r), T, r, OC, false);
            for (int j = 0; j < r; j++) {
                float acc = 0f;
                for (int t = 0; t < T; t++) {
                    acc += dg[t * r + j] * s.h()[k * T * r + t * r + j];
                }
                lambda.grad()[k * r + j] += acc;
            }
            for (int t = 0; t < T; t++) {
                for (int j = 0; j < r; j++) {
                    dg[t * r + j] *= lambda.value()[k * r + j];
                }
            }
            SmallMatmul.ab(dxg, 1f, dg, slice(a, k * r * IC, r * IC), T, IC, r, false);
            for (int i = 0; i < IC; i++) {
                float acc = 0f;
                float gi = gamma.value()[k * IC + i];
                for (int t = 0; t < T; t++) {
                    acc += dxg[t * IC + i] * xd[t * IC + i];
                    dxd[t * IC + i] += dxg[t * IC + i] * gi;
                }
                gamma.grad()[k * IC + i] += acc;
            }
        }
        if (dx != null) {
            s.drop().backward(dxd, dx);
        }
    }

    /** w += s·Σ_b B_b·diag(λ_b)·A_b·diag(γ_b). */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        float[] bl = new float[OC * r], ag = new float[r * IC];
        for (int k = 0; k < n; k++) {
            for (int o = 0; o < OC; o++) {
                for (int j = 0; j < r; j++) {
                    bl[o * r + j] = b[k * OC * r + o * r + j] * lambda.value()[k * r + j];
                }
            }
            for (int j = 0; j < r; j++) {
                for (int i = 0; i < IC; i++) {
                    ag[j * IC + i] = a[k * r * IC + j * IC + i] * gamma.value()[k * IC + i];
                }
            }
            SmallMatmul.ab(w, scale, bl, ag, OC, IC, r, true);
        }
    }
}
