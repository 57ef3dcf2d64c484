package dev.jlora.simd.ref;

import dev.jlora.simd.RopeLayout;

/**
 * Float64 references for the layer kernels of {@code VectorOps}, written from the formulas rather than from the
 * kernels. Each backward here is checked by central differences ({@code GradientTest}); the float kernels are
 * then checked against these.
 */
public final class LayersRef {
    private LayersRef() {}

    public record RmsNormGrads(double[] dx, double[] dweight) {}

    public record SwigluGrads(double[] dgate, double[] dup) {}

    public static double[] rmsNormForward(double[] x, double[] w, int T, int C, double eps) {
        double[] out = new double[T * C];
        for (int t = 0; t < T; t++) {
            double ss = 0;
            for (int c = 0; c < C; c++) {
                ss += x[t * C + c] * x[t * C + c];
            }
            double r = 1 / Math.sqrt(ss / C + eps);
            for (int c = 0; c < C; c++) {
                out[t * C + c] = x[t * C + c] * r * w[c];
            }
        }
        return out;
    }

    public static double[] rstd(double[] x, int T, int C, double eps) {
        double[] r = new double[T];
        for (int t = 0; t < T; t++) {
            double ss = 0;
            for (int c = 0; c < C; c++) {
                ss += x[t * C + c] * x[t * C + c];
            }
            r[t] = 1 / Math.sqrt(ss / C + eps);
        }
        return r;
    }

    /** d out[t,c] / d x[t,j] = r·w_c·δ_cj − r³·x_c·w_c·x_j / C, contracted with dout. */
    public static RmsNormGrads rmsNormBackward(double[] dout, double[] x, double[] w, int T, int C, double eps) {
        double[] dx = new double[T * C], dw = new double[C];
        double[] rs = rstd(x, T, C, eps);
        for (int t = 0; t < T; t++) {
            double r = rs[t];
            for (int j = 0; j < C; j++) {
                double s = 0;
                for (int c = 0; c < C; c++) {
                    double jac = (c == j ? r * w[c] : 0) - r * r * r * x[t * C + c] * w[c] * x[t * C + j] / C;
                    s += dout[t * C + c] * jac;
                }
                dx[t * C + j] = s;
                dw[j] += dout[t * C + j] * x[t * C + j] * r;
            }
        }
        return new RmsNormGrads(dx, dw);
    }

    public static double[] softmax(double[] x, int n, int len) {
        double m = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < len; i++) {
            m = Math.max(m, x[i]);
        }
        double s = 0;
        double[] y = new double[n];
        for (int i = 0; i < len; i++) {
            y[i] = Math.exp(x[i] - m);
            s += y[i];
        }
        for (int i = 0; i < len; i++) {
            y[i] /= s;
        }
        return y;
    }

    /** Jacobian of softmax: dy_i/dx_j = y_i(δ_ij − y_j); masked entries have no gradient. */
    public static double[] softmaxBackward(double[] dy, double[] x, int n, int len) {
        double[] y = softmax(x, n, len);
        double[] dx = new double[n];
        for (int j = 0; j < len; j++) {
            double s = 0;
            for (int i = 0; i < len; i++) {
                s += dy[i] * y[i] * ((i == j ? 1 : 0) - y[j]);
            }
            dx[j] = s;
        }
        return dx;
    }

    public static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    public static double[] silu(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i] * sigmoid(x[i]);
        }
        return y;
    }

    /** d/dx x·σ(x) = σ + x·σ·(1 − σ). */
    public static double[] siluBackward(double[] dout, double[] x) {
        double[] dx = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double s = sigmoid(x[i]);
            dx[i] = dout[i] * (s + x[i] * s * (1 - s));
        }
        return dx;
    }

    public static double[] swiglu(double[] gate, double[] up) {
        double[] y = new double[gate.length];
        for (int i = 0; i < y.length; i++) {
            y[i] = gate[i] * sigmoid(gate[i]) * up[i];
        }
        return y;
    }

    public static SwigluGrads swigluBackward(double[] dout, double[] gate, double[] up) {
        double[] silu = silu(gate), dsilu = siluBackward(up, gate);   // d/dgate (silu·up) = up·silu'
        double[] dg = new double[gate.length], du = new double[gate.length];
        for (int i = 0; i < dg.length; i++) {
            dg[i] = dout[i] * dsilu[i];
            du[i] = dout[i] * silu[i];
        }
        return new SwigluGrads(dg, du);
    }

    /** Rotation of each pair by pos·theta^(−2i/hs), angles in double. */
    public static double[] rope(double[] x, int T, int H, int hs, int[] pos, double theta, RopeLayout layout) {
        double[] y = x.clone();
        int half = hs / 2;
        for (int t = 0; t < T; t++) {
            for (int h = 0; h < H; h++) {
                int base = (t * H + h) * hs;
                for (int i = 0; i < half; i++) {
                    double angle = pos[t] * Math.pow(theta, -2.0 * i / hs);
                    int ia = layout == RopeLayout.INTERLEAVED ? base + 2 * i : base + i;
                    int ib = layout == RopeLayout.INTERLEAVED ? ia + 1 : ia + half;
                    double a = x[ia], b = x[ib];
                    y[ia] = a * Math.cos(angle) - b * Math.sin(angle);
                    y[ib] = a * Math.sin(angle) + b * Math.cos(angle);
                }
            }
        }
        return y;
    }

    /** The transpose of the rotation, i.e. the rotation by the negated angles (same code, angle sign flipped). */
    public static double[] ropeBackward(double[] dy, int T, int H, int hs, int[] pos, double theta,
                                        RopeLayout layout) {
        double[] dx = dy.clone();
        int half = hs / 2;
        for (int t = 0; t < T; t++) {
            for (int h = 0; h < H; h++) {
                int base = (t * H + h) * hs;
                for (int i = 0; i < half; i++) {
                    double angle = pos[t] * Math.pow(theta, -2.0 * i / hs);
                    int ia = layout == RopeLayout.INTERLEAVED ? base + 2 * i : base + i;
                    int ib = layout == RopeLayout.INTERLEAVED ? ia + 1 : ia + half;
                    double a = dy[ia], b = dy[ib];
                    dx[ia] = a * Math.cos(angle) + b * Math.sin(angle);
                    dx[ib] = -a * Math.sin(angle) + b * Math.cos(angle);
                }
            }
        }
        return dx;
    }

    /** Σ_t −log softmax(logits[t])[target[t]] over rows with target ≥ 0. */
    public static double crossEntropy(double[] logits, int[] targets, int T, int V) {
        double loss = 0;
        for (int t = 0; t < T; t++) {
            if (targets[t] < 0) {
                continue;
            }
            double m = Double.NEGATIVE_INFINITY;
            for (int v = 0; v < V; v++) {
                m = Math.max(m, logits[t * V + v]);
            }
            double s = 0;
            for (int v = 0; v < V; v++) {
                s += Math.exp(logits[t * V + v] - m);
            }
            loss += m + Math.log(s) - logits[t * V + targets[t]];
        }
        return loss;
    }

    /** d loss / d logits = softmax − onehot per counted row, times dscale. */
    public static double[] crossEntropyBackward(double[] logits, int[] targets, int T, int V, double dscale) {
        double[] d = new double[T * V];
        for (int t = 0; t < T; t++) {
            if (targets[t] < 0) {
                continue;
            }
            double[] row = new double[V];
            System.arraycopy(logits, t * V, row, 0, V);
            double[] p = softmax(row, V, V);
            for (int v = 0; v < V; v++) {
                d[t * V + v] = dscale * (p[v] - (v == targets[t] ? 1 : 0));
            }
        }
        return d;
    }
}
