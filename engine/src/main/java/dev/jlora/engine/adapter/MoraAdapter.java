package dev.jlora.engine.adapter;

import java.util.List;
import java.util.Map;

/**
 * MoRA (Jiang et al. 2024, "MoRA: High-Rank Updating for Parameter-Efficient Fine-Tuning", arXiv:2405.12130, §3 and
 * §4): a trainable square matrix M [r̂ × r̂] between a non-parametric compression of the input and decompression of
 * the output, Δ(x) = f_decomp(M·f_comp(x)), with r̂ = ⌊√((IC + OC)·r) + ½⌋ so that M has as many parameters as a
 * rank-r LoRA but rank up to r̂. M starts at 0. Two of the authors' compressions ({@code mora_type}) are implemented;
 * both first pad x to a multiple of r̂ by repeating its first elements and cut it into G groups of r̂:
 * <ul>
 *   <li>{@code mora_type=1}, sharing (the default): the groups are summed, M applied once, and its output repeated
 *       (and cut) to OC, so ΔW has rank ≤ r̂;</li>
 *   <li>{@code mora_type=6}, rotation (§3, the RoPE-based variant the paper uses for large r̂): group g is rotated
 *       like a RoPE position g (pairs (k, k + r̂/2), angle g·10000^(−2k/r̂)), M applied to every rotated group, and
 *       the G outputs concatenated, cut to OC (repeated when G·r̂ &lt; OC). ΔW is then block diagonal in blocks
 *       M·R_g, of rank up to min(G·r̂, OC) although M has only r̂² entries. r̂ is rounded down to even.</li>
 * </ul>
 * Dropout applies to the adapter's input.
 */
public final class MoraAdapter extends DroppedInputAdapter {
    /** The authors' {@code mora_type} codes. */
    public static final int SHARING = 1, ROTATION = 6;

    private final int r, rHat, padded, groups, type;
    private final Parameter m;
    /** RoPE tables [G × r̂] for {@link #ROTATION}, null for sharing. */
    private final float[] cos, sin;

    /** cx = f_comp(xd): [T × r̂] for sharing, [T·G × r̂] (rotated groups) for rotation. */
    private record Saved(InputDropout drop, float[] cx) implements TrainableAdapter.Saved {}

    /** The sharing form ({@code mora_type=1}). */
    public MoraAdapter(int inFeatures, int outFeatures, int rank, float dropout) {
        this(inFeatures, outFeatures, rank, dropout, SHARING);
    }

    public MoraAdapter(int inFeatures, int outFeatures, int rank, float dropout, int moraType) {
        if (inFeatures <= 0 || outFeatures <= 0 || rank <= 0) {
            throw new IllegalArgumentException("MoRA needs positive sizes, got IC=" + inFeatures + " OC=" + outFeatures + " r=" + rank);
        }
        if (moraType != SHARING && moraType != ROTATION) {
            throw new IllegalArgumentException("MoRA mora_type must be 1 (sharing) or 6 (RoPE rotation), got " + moraType);
        }
        super("MoRA", inFeatures, outFeatures, dropout);
        this.r = rank;
        this.type = moraType;
        int n = squareSize(inFeatures, outFeatures, rank);
        this.rHat = moraType == ROTATION ? n / 2 * 2 : n;       // the authors: "type 6 require new_r to be even"
        if (rHat < 1 || rHat > IC) {
            throw new IllegalArgumentException("MoRA: r̂ = " + rHat + " from r = " + rank + " must be in [1, IC = " + IC
                    + "] (the compression pads the input with its own first elements)");
        }
        this.padded = (IC + rHat - 1) / rHat * rHat;
        this.groups = padded / rHat;
        this.m = Parameter.zeros("mora_M", rHat, rHat);
        if (type == ROTATION) {
            cos = new float[groups * rHat];
            sin = new float[groups * rHat];
            int h = rHat / 2;
            for (int g = 0; g < groups; g++) {
                for (int k = 0; k < rHat; k++) {
                    double angle = g / Math.pow(10000, 2.0 * (k % h) / rHat);
                    cos[g * rHat + k] = (float) Math.cos(angle);
                    sin[g * rHat + k] = (float) Math.sin(angle);
                }
            }
        } else {
            cos = null;
            sin = null;
        }
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
    public List<Parameter> parameters() {
        return List.of(m);
    }

    @Override
    public Map<String, String> config() {
        var c = commonConfig(r);
        c.put("mora_type", Integer.toString(type));
        return c;
    }

    /** 1 (sharing) or 6 (RoPE rotation). */
    public int moraType() {
        return type;
    }

    /** Input element feeding padded position p: p itself, or p − IC for the repeated padding. */
    private int source(int p) {
        return p < IC ? p : p - IC;
    }

    /** Length of the output pattern: r̂ (sharing) or min(G·r̂, OC) (rotation); y[t, o] takes element o mod it. */
    private int period() {
        return type == SHARING ? rHat : Math.min(groups * rHat, OC);
    }

    /** cx = f_comp(xd); z = cx·Mᵀ (per row of cx); y[t, o] += z_t[o mod period] (z_t: row t, or t's G rows). */
    @Override
    Saved run(InputDropout drop, int T, float[] y) {
        float[] cx = compress(drop.xd(), T);
        int rows = cx.length / rHat, perToken = rows / T, period = period();
        float[] z = new float[rows * rHat];
        SmallMatmul.abt(z, cx, m.value(), rows, rHat, rHat);
        for (int t = 0; t < T; t++) {
            for (int o = 0; o < OC; o++) {
                y[t * OC + o] += z[t * perToken * rHat + o % period];
            }
        }
        return new Saved(drop, cx);
    }

    /**
     * Sharing: xs[t, p mod r̂] += xd[t, source(p)], [T × r̂]. Rotation: group g of the padded input rotated,
     * c[k] = v[k]·cos_gk + rot(v)[k]·sin_gk with rot(v) = (−v[h:], v[:h]), h = r̂/2, [T·G × r̂].
     */
    private float[] compress(float[] xd, int T) {
        if (type == SHARING) {
            float[] xs = new float[T * rHat];
            for (int t = 0; t < T; t++) {
                for (int p = 0; p < padded; p++) {
                    xs[t * rHat + p % rHat] += xd[t * IC + source(p)];
                }
            }
            return xs;
        }
        int h = rHat / 2;
        float[] c = new float[T * padded];
        for (int t = 0; t < T; t++) {
            for (int g = 0; g < groups; g++) {
                int base = g * rHat;
                for (int k = 0; k < rHat; k++) {
                    float v = xd[t * IC + source(base + k)];
                    float rot = k < h ? -xd[t * IC + source(base + k + h)] : xd[t * IC + source(base + k - h)];
                    c[t * padded + base + k] = v * cos[base + k] + rot * sin[base + k];
                }
            }
        }
        return c;
    }

    /**
     * dz[row, k] = Σ_{o ≡ k} dy[t, o] (over the period); dM += dzᵀ·cx; dcx = dz·M; dx += drop'(f_compᵀ(dcx)), the
     * transposed group sum or the transposed rotation (dv[k] += dc[k]·cos_gk, and dc[k]·sin_gk to the element rot
     * took: −v[k + h] for k &lt; h, v[k − h] otherwise).
     */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("MoRA backward needs the state its own forwardTrain returned, got " + saved);
        }
        int rows = s.cx().length / rHat, perToken = rows / T, period = period();
        float[] dz = new float[rows * rHat];
        for (int t = 0; t < T; t++) {
            for (int o = 0; o < OC; o++) {
                dz[t * perToken * rHat + o % period] += dy[t * OC + o];
            }
        }
        SmallMatmul.atbAcc(m.grad(), 1f, dz, s.cx(), rows, rHat, rHat);
        if (dx == null) {
            return;
        }
        float[] dcx = new float[rows * rHat];
        SmallMatmul.ab(dcx, 1f, dz, m.value(), rows, rHat, rHat, false);
        float[] dxd = new float[T * IC];
        if (type == SHARING) {
            for (int t = 0; t < T; t++) {
                for (int p = 0; p < padded; p++) {
                    dxd[t * IC + source(p)] += dcx[t * rHat + p % rHat];
                }
            }
        } else {
            int h = rHat / 2;
            for (int t = 0; t < T; t++) {
                for (int g = 0; g < groups; g++) {
                    int base = g * rHat;
                    for (int k = 0; k < rHat; k++) {
                        float d = dcx[t * padded + base + k];
                        dxd[t * IC + source(base + k)] += d * cos[base + k];
                        if (k < h) {
                            dxd[t * IC + source(base + k + h)] -= d * sin[base + k];
                        } else {
                            dxd[t * IC + source(base + k - h)] += d * sin[base + k];
                        }
                    }
                }
            }
        }
        s.drop().backward(dxd, dx);
    }

    /**
     * ΔW = D·M̃·C: sharing w[o, source(p)] += M[o mod r̂, p mod r̂]; rotation, with f = o mod period in group
     * g = f / r̂, row a = f mod r̂: w[o, source(g·r̂ + k)] += (M·R_g)[a, k], (M·R_g)[a, k] = M[a, k]·cos_gk −
     * M[a, k − h]·sin_g(k−h) (k ≥ h) or + M[a, k + h]·sin_g(k+h) (k &lt; h).
     */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        float[] mv = m.value();
        int period = period();
        if (type == SHARING) {
            for (int o = 0; o < OC; o++) {
                int a = o % rHat;
                for (int p = 0; p < padded; p++) {
                    w[o * IC + source(p)] += mv[a * rHat + p % rHat];
                }
            }
            return;
        }
        int h = rHat / 2;
        for (int o = 0; o < OC; o++) {
            int f = o % period, g = f / rHat, a = f % rHat, base = g * rHat;
            for (int k = 0; k < rHat; k++) {
                float v = mv[a * rHat + k] * cos[base + k] + (k < h
                        ? mv[a * rHat + k + h] * sin[base + k + h]
                        : -mv[a * rHat + k - h] * sin[base + k - h]);
                w[o * IC + source(base + k)] += v;
            }
        }
    }
}
