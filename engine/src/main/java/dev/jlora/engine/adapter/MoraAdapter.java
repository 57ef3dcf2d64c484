package dev.jlora.engine.adapter;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * MoRA (Jiang et al. 2024, "MoRA: High-Rank Updating for Parameter-Efficient Fine-Tuning", arXiv:2405.12130, §3 and
 * §4): a trainable square matrix M [r̂ × r̂] between a non-parametric compression of the input and decompression of
 * the output, Δ(x) = f_decomp(M·f_comp(x)), with r̂ = ⌊√((IC + OC)·r) + ½⌋ so that M has as many parameters as a
 * rank-r LoRA but rank up to r̂. M starts at 0.
 *
 * <p>Implemented: the "sharing" compression of the authors' code ({@code mora_type=1}): x is padded to a multiple of
 * r̂ by repeating its first elements, cut into groups of r̂ and the groups summed; the output of M is repeated
 * (and cut) to OC. The RoPE-based decompression the paper uses for small r ({@code mora_type=6}) is not
 * implemented. Dropout applies to the adapter's input.
 */
public final class MoraAdapter implements TrainableAdapter {
    private final int IC, OC, r, rHat, padded;
    private final float dropout;
    private final Parameter m;

    /** xs = f_comp(xd) [T × r̂], z = xs·Mᵀ [T × r̂]. */
    private record Saved(InputDropout drop, float[] xs) implements TrainableAdapter.Saved {}

    public MoraAdapter(int inFeatures, int outFeatures, int rank, float dropout) {
        if (inFeatures <= 0 || outFeatures <= 0 || rank <= 0) {
            throw new IllegalArgumentException("MoRA needs positive sizes, got IC=" + inFeatures + " OC=" + outFeatures + " r=" + rank);
        }
        InputDropout.checkRate("MoRA", dropout);
        this.IC = inFeatures;
        this.OC = outFeatures;
        this.r = rank;
        this.rHat = squareSize(inFeatures, outFeatures, rank);
        if (rHat > IC) {
            throw new IllegalArgumentException("MoRA: r̂ = " + rHat + " from r = " + rank + " exceeds IC = " + IC
                    + " (the sharing compression pads the input with its own first elements)");
        }
        this.padded = (IC + rHat - 1) / rHat * rHat;
        this.dropout = dropout;
        this.m = Parameter.zeros("mora_M", rHat, rHat);
    }

    /** r̂ = ⌊√((IC + OC)·r) + ½⌋ (the authors' {@code new_r}). */
    public static int squareSize(int inFeatures, int outFeatures, int rank) {
        return (int) (Math.sqrt((double) (inFeatures + outFeatures) * rank) + 0.5);
    }

    /** M [r̂ × r̂]. */
    public Parameter matrix() {
        return m;
    }

    public int squareSize() {
        return rHat;
    }

    @Override
    public String method() {
        return "mora";
    }

    @Override
    public int inFeatures() {
        return IC;
    }

    @Override
    public int outFeatures() {
        return OC;
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(m);
    }

    @Override
    public Map<String, String> config() {
        var c = new LinkedHashMap<String, String>();
        c.put("method", method());
        c.put("rank", Integer.toString(r));
        c.put("dropout", Float.toString(dropout));
        return c;
    }

    /** Input element feeding padded position p: p itself, or p − IC for the repeated padding. */
    private int source(int p) {
        return p < IC ? p : p - IC;
    }

    @Override
    public void forward(float[] x, int T, float[] y) {
        run(InputDropout.apply(x, T * IC, 0, 0), T, y);
    }

    @Override
    public TrainableAdapter.Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed) {
        return run(InputDropout.apply(x, T * IC, dropout, dropoutSeed), T, y);
    }

    /** xs[t, p mod r̂] += xd[t, source(p)]; z = xs·Mᵀ; y[t, o] += z[t, o mod r̂]. */
    private Saved run(InputDropout drop, int T, float[] y) {
        float[] xd = drop.xd();
        float[] xs = new float[T * rHat];
        for (int t = 0; t < T; t++) {
            for (int p = 0; p < padded; p++) {
                xs[t * rHat + p % rHat] += xd[t * IC + source(p)];
            }
        }
        float[] z = new float[T * rHat];
        SmallMatmul.abt(z, xs, m.value(), T, rHat, rHat);
        for (int t = 0; t < T; t++) {
            for (int o = 0; o < OC; o++) {
                y[t * OC + o] += z[t * rHat + o % rHat];
            }
        }
        return new Saved(drop, xs);
    }

    /** dz[t, k] = Σ_{o ≡ k} dy[t, o]; dM += dzᵀ·xs; dxs = dz·M; dx[t, source(p)] += drop'(dxs[t, p mod r̂]). */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("MoRA backward needs the state its own forwardTrain returned, got " + saved);
        }
        float[] dz = new float[T * rHat];
        for (int t = 0; t < T; t++) {
            for (int o = 0; o < OC; o++) {
                dz[t * rHat + o % rHat] += dy[t * OC + o];
            }
        }
        SmallMatmul.atbAcc(m.grad(), 1f, dz, s.xs(), T, rHat, rHat);
        if (dx == null) {
            return;
        }
        float[] dxs = new float[T * rHat];
        SmallMatmul.ab(dxs, 1f, dz, m.value(), T, rHat, rHat, false);
        float[] dxd = new float[T * IC];
        for (int t = 0; t < T; t++) {
            for (int p = 0; p < padded; p++) {
                dxd[t * IC + source(p)] += dxs[t * rHat + p % rHat];
            }
        }
        s.drop().backward(dxd, dx);
    }

    /** w[o, source(p)] += M[o mod r̂, p mod r̂]: ΔW = D·M·C with the repeat (D) and group-sum (C) matrices. */
    @Override
    public void mergeInto(float[] w) {
        if (w.length != OC * IC) {
            throw new IllegalArgumentException("merge target has " + w.length + " elements, expected OC×IC = " + OC + "×" + IC);
        }
        float[] mv = m.value();
        for (int o = 0; o < OC; o++) {
            int k = o % rHat;
            for (int p = 0; p < padded; p++) {
                w[o * IC + source(p)] += mv[k * rHat + p % rHat];
            }
        }
    }
}
