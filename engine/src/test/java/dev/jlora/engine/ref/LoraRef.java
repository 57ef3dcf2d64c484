package dev.jlora.engine.ref;

/**
 * Float64 reference of LoRA on one linear layer: y = s·(drop(x)·Aᵀ)·Bᵀ (the adapter's contribution only), with
 * x [T × IC], A [r × IC], B [OC × r]. The mask {@code keep} (null: no dropout) marks kept inputs, scaled by 1/(1−p).
 */
public final class LoraRef {
    private LoraRef() {}

    public record Shape(int T, int IC, int OC, int r, double s, double p) {}

    public record Grads(double[] dA, double[] dB, double[] dx) {}

    public static double[] forward(double[] x, double[] a, double[] b, boolean[] keep, Shape sh) {
        double[] xd = dropped(x, keep, sh);
        double[] y = new double[sh.T() * sh.OC()];
        for (int t = 0; t < sh.T(); t++) {
            double[] h = new double[sh.r()];
            for (int j = 0; j < sh.r(); j++) {
                for (int i = 0; i < sh.IC(); i++) {
                    h[j] += xd[t * sh.IC() + i] * a[j * sh.IC() + i];
                }
            }
            for (int o = 0; o < sh.OC(); o++) {
                for (int j = 0; j < sh.r(); j++) {
                    y[t * sh.OC() + o] += sh.s() * h[j] * b[o * sh.r() + j];
                }
            }
        }
        return y;
    }

    /** Gradients of loss = Σ dy ⊙ y, written out by the chain rule. */
    public static Grads backward(double[] x, double[] a, double[] b, boolean[] keep, double[] dy, Shape sh) {
        double[] xd = dropped(x, keep, sh);
        int T = sh.T(), IC = sh.IC(), OC = sh.OC(), r = sh.r();
        double[] dA = new double[r * IC], dB = new double[OC * r], dx = new double[T * IC];
        for (int t = 0; t < T; t++) {
            double[] h = new double[r], dh = new double[r];
            for (int j = 0; j < r; j++) {
                for (int i = 0; i < IC; i++) {
                    h[j] += xd[t * IC + i] * a[j * IC + i];
                }
            }
            for (int o = 0; o < OC; o++) {
                for (int j = 0; j < r; j++) {
                    dB[o * r + j] += sh.s() * dy[t * OC + o] * h[j];
                    dh[j] += sh.s() * dy[t * OC + o] * b[o * r + j];
                }
            }
            for (int j = 0; j < r; j++) {
                for (int i = 0; i < IC; i++) {
                    dA[j * IC + i] += dh[j] * xd[t * IC + i];
                    double dxd = dh[j] * a[j * IC + i];
                    dx[t * IC + i] += keep == null ? dxd : keep[t * IC + i] ? dxd / (1 - sh.p()) : 0;
                }
            }
        }
        return new Grads(dA, dB, dx);
    }

    private static double[] dropped(double[] x, boolean[] keep, Shape sh) {
        if (keep == null) {
            return x;
        }
        double[] xd = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            xd[i] = keep[i] ? x[i] / (1 - sh.p()) : 0;
        }
        return xd;
    }
}
