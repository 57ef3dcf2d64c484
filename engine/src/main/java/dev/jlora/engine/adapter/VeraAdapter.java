package dev.jlora.engine.adapter;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * VeRA (Kopiczko, Blankevoort and Asano 2024, "VeRA: Vector-based Random Matrix Adaptation", ICLR 2024,
 * arXiv:2310.11454, §3.1 Eq. (2)): h = W·x + Λ_b·B·Λ_d·A·x with A [r × IC] and B [OC × r] frozen random matrices
 * shared by all layers, and only the scaling vectors d [r] and b [OC] trained. d starts at {@code d_initial}
 * (0.1 in PEFT) and b at 0, so ΔW = 0 at step 0 (§3.1 "Initialization").
 *
 * <p>As PEFT's {@code VeraModel}: one pair of shared matrices of the largest in/out size of the adapted layers,
 * Kaiming-uniform (bound 1/√fan_in, PyTorch {@code kaiming_uniform_(a=√5)}), each layer using the leading
 * [r × IC] block of A and [OC × r] block of B. Instead of saving them (PEFT's {@code save_projection}), they are
 * regenerated from {@code projection_prng_key} (§3.1 notes that the random matrices can be regenerated from a seed),
 * so {@link #buffers()} is empty and the seed is part of {@link #config()}. Dropout applies to the adapter's input.
 */
public final class VeraAdapter extends DroppedInputAdapter {
    private final int r;
    private final float dInitial;
    private final Projections shared;
    private final float[] aSlice, bSlice;
    private final Parameter d, bVec;

    /** h = xd·Aᵀ [T×r], g = h ⊙ d [T×r], u = g·Bᵀ [T×OC]. */
    private record Saved(InputDropout drop, float[] h, float[] u) implements TrainableAdapter.Saved {}

    /**
     * The frozen shared matrices: A [r × maxIn], B [maxOut × r] drawn from {@code seed}.
     */
    public record Projections(int rank, int maxIn, int maxOut, long seed, float[] a, float[] b) {

        public static Projections generate(int rank, int maxIn, int maxOut, long seed) {
            if (rank <= 0 || maxIn <= 0 || maxOut <= 0) {
                throw new IllegalArgumentException("VeRA projections need positive rank and sizes, got r=" + rank
                        + " in=" + maxIn + " out=" + maxOut);
            }
            var rnd = new SplittableRandom(seed);
            float[] a = new float[rank * maxIn], b = new float[maxOut * rank];
            double boundA = 1 / Math.sqrt(maxIn), boundB = 1 / Math.sqrt(rank);
            RandomInit.fillUniform(a, boundA, rnd);
            RandomInit.fillUniform(b, boundB, rnd);
            return new Projections(rank, maxIn, maxOut, seed, a, b);
        }
    }

    public VeraAdapter(int inFeatures, int outFeatures, Projections shared, float dInitial, float dropout) {
        if (inFeatures <= 0 || outFeatures <= 0 || inFeatures > shared.maxIn() || outFeatures > shared.maxOut()) {
            throw new IllegalArgumentException("VeRA layer " + outFeatures + "×" + inFeatures
                    + " does not fit the shared projections (max " + shared.maxOut() + "×" + shared.maxIn() + ")");
        }
        super("VeRA", inFeatures, outFeatures, dropout);
        this.r = shared.rank();
        this.shared = shared;
        this.dInitial = dInitial;
        this.aSlice = new float[r * IC];
        for (int j = 0; j < r; j++) {
            System.arraycopy(shared.a(), j * shared.maxIn(), aSlice, j * IC, IC);
        }
        this.bSlice = java.util.Arrays.copyOf(shared.b(), OC * r);
        this.d = Parameter.zeros("vera_lambda_d", r);
        this.bVec = Parameter.zeros("vera_lambda_b", OC);
        java.util.Arrays.fill(d.value(), dInitial);
    }

    /** The frozen shared projections this layer slices. */
    public Projections projections() {
        return shared;
    }

    public float dropout() {
        return dropout;
    }

    public float dInitial() {
        return dInitial;
    }

    /** λ_d [r]. */
    public Parameter lambdaD() {
        return d;
    }

    /** λ_b [OC]. */
    public Parameter lambdaB() {
        return bVec;
    }

    @Override
    public String method() {
        return "vera";
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(d, bVec);
    }

    @Override
    public Map<String, String> config() {
        var c = commonConfig(r);
        c.put("d_initial", Float.toString(dInitial));
        c.put("projection_prng_key", Long.toString(shared.seed()));
        c.put("projection_in", Integer.toString(shared.maxIn()));
        c.put("projection_out", Integer.toString(shared.maxOut()));
        return c;
    }

    /** h = xd·Aᵀ; u = (h ⊙ d)·Bᵀ; y += b ⊙ u. */
    @Override
    Saved run(InputDropout drop, int T, float[] y) {
        float[] h = new float[T * r];
        SmallMatmul.abt(h, drop.xd(), aSlice, T, r, IC);
        float[] g = new float[T * r];
        float[] dv = d.value();
        for (int t = 0; t < T; t++) {
            for (int j = 0; j < r; j++) {
                g[t * r + j] = h[t * r + j] * dv[j];
            }
        }
        float[] u = new float[T * OC];
        SmallMatmul.abt(u, g, bSlice, T, OC, r);
        float[] bv = bVec.value();
        for (int t = 0; t < T; t++) {
            for (int o = 0; o < OC; o++) {
                y[t * OC + o] += bv[o] * u[t * OC + o];
            }
        }
        return new Saved(drop, h, u);
    }

    /** db += Σ_t dy ⊙ u; dg = (dy ⊙ b)·B; dd += Σ_t dg ⊙ h; dh = dg ⊙ d; dx += drop'(dh·A). A and B get no gradient. */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("VeRA backward needs the state its own forwardTrain returned, got " + saved);
        }
        float[] bv = bVec.value(), dv = d.value();
        float[] du = new float[T * OC];
        for (int o = 0; o < OC; o++) {
            float acc = 0f;
            for (int t = 0; t < T; t++) {
                acc += dy[t * OC + o] * s.u()[t * OC + o];
                du[t * OC + o] = dy[t * OC + o] * bv[o];
            }
            bVec.grad()[o] += acc;
        }
        float[] dg = new float[T * r];
        SmallMatmul.ab(dg, 1f, du, bSlice, T, r, OC, false);
        for (int j = 0; j < r; j++) {
            float acc = 0f;
            for (int t = 0; t < T; t++) {
                acc += dg[t * r + j] * s.h()[t * r + j];
            }
            d.grad()[j] += acc;
        }
        if (dx == null) {
            return;
        }
        for (int t = 0; t < T; t++) {
            for (int j = 0; j < r; j++) {
                dg[t * r + j] *= dv[j];
            }
        }
        LowRankPath.inputGradient(dg, aSlice, s.drop(), T, r, IC, dx);
    }

    /** w += diag(b)·B·diag(d)·A. */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        float[] bd = new float[OC * r];
        for (int o = 0; o < OC; o++) {
            for (int j = 0; j < r; j++) {
                bd[o * r + j] = bVec.value()[o] * bSlice[o * r + j] * d.value()[j];
            }
        }
        SmallMatmul.ab(w, 1f, bd, aSlice, OC, IC, r, true);
    }
}
