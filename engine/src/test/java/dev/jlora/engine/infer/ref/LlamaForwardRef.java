package dev.jlora.engine.infer.ref;

import dev.jlora.engine.infer.Rope;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.quant.QuantMatrix;

/**
 * The decoder forward in float64, written from the definitions without a KV cache: every position's logits from
 * the whole sequence at once. The reference the fp32 {@code InferenceSession} is checked against.
 */
public final class LlamaForwardRef {
    private LlamaForwardRef() {}

    /** Logits [T][V] of every position of {@code tokens} (positions 0 .. T-1). */
    public static double[][] logits(LlamaConfig c, LlamaWeights w, int[] tokens) {
        return logits(c, w, tokens, false);
    }

    /**
     * {@link #logits(LlamaConfig, LlamaWeights, int[])} with every key (after rotation) and value rounded to fp16
     * (through fp32, round to nearest even) when {@code fp16Kv}: what an fp16 KV cache stores.
     */
    public static double[][] logits(LlamaConfig c, LlamaWeights w, int[] tokens, boolean fp16Kv) {
        int T = tokens.length, C = c.dim(), H = c.nHeads(), KVH = c.nKvHeads(), hs = c.headDim();
        double[] invFreq = Rope.inverseFrequencies(hs, c.ropeTheta(), c.ropeScaling());
        // YaRN's temperature as Hugging Face applies it: cos and sin (so q and k) times the attention factor.
        double magnitude = Rope.attentionFactor(c.ropeScaling());
        double[][] x = new double[T][];
        for (int t = 0; t < T; t++) {
            x[t] = row(w.tokenEmbedding(), tokens[t]);
        }
        for (LlamaWeights.Layer L : w.layers()) {
            double[][] q = new double[T][], k = new double[T][], v = new double[T][];
            for (int t = 0; t < T; t++) {
                double[] xn = rmsNorm(x[t], L.attnNorm(), c.rmsEps());
                q[t] = rope(add(linear(L.wq(), xn), L.bq()), t, H, hs, invFreq, magnitude, c.ropeInterleaved());
                k[t] = rope(add(linear(L.wk(), xn), L.bk()), t, KVH, hs, invFreq, magnitude, c.ropeInterleaved());
                v[t] = add(linear(L.wv(), xn), L.bv());
                if (fp16Kv) {
                    toFp16(k[t]);
                    toFp16(v[t]);
                }
            }
            for (int t = 0; t < T; t++) {
                double[] att = new double[H * hs];
                for (int h = 0; h < H; h++) {
                    int kh = h / (H / KVH);
                    double[] s = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= t; j++) {
                        double d = 0;
                        for (int i = 0; i < hs; i++) {
                            d += q[t][h * hs + i] * k[j][kh * hs + i];
                        }
                        s[j] = d / Math.sqrt(hs);
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= t; j++) {
                        s[j] = Math.exp(s[j] - max);
                        sum += s[j];
                    }
                    for (int j = 0; j <= t; j++) {
                        for (int i = 0; i < hs; i++) {
                            att[h * hs + i] += s[j] / sum * v[j][kh * hs + i];
                        }
                    }
                }
                double[] o = linear(L.wo(), att);
                for (int i = 0; i < C; i++) {
                    x[t][i] += o[i];
                }
                double[] xn = rmsNorm(x[t], L.ffnNorm(), c.rmsEps());
                double[] g = linear(L.wGate(), xn), u = linear(L.wUp(), xn);
                for (int i = 0; i < g.length; i++) {
                    g[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
                }
                double[] d = linear(L.wDown(), g);
                for (int i = 0; i < C; i++) {
                    x[t][i] += d[i];
                }
            }
        }
        double[][] out = new double[T][];
        for (int t = 0; t < T; t++) {
            out[t] = linear(w.output(), rmsNorm(x[t], w.finalNorm(), c.rmsEps()));
        }
        return out;
    }

    private static void toFp16(double[] a) {
        for (int i = 0; i < a.length; i++) {
            a[i] = Float.float16ToFloat(Float.floatToFloat16((float) a[i]));
        }
    }

    static double[] row(QuantMatrix m, int r) {
        float[] f = new float[m.cols()];
        m.dequantizeRow(r, f, 0);
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    static double[] linear(QuantMatrix m, double[] x) {
        double[] y = new double[m.rows()];
        for (int o = 0; o < m.rows(); o++) {
            double[] wr = row(m, o);
            double s = 0;
            for (int i = 0; i < wr.length; i++) {
                s += wr[i] * x[i];
            }
            y[o] = s;
        }
        return y;
    }

    static double[] add(double[] y, float[] b) {
        if (b != null) {
            for (int i = 0; i < y.length; i++) {
                y[i] += b[i];
            }
        }
        return y;
    }

    static double[] rmsNorm(double[] x, float[] w, double eps) {
        double ss = 0;
        for (double a : x) {
            ss += a * a;
        }
        double s = 1 / Math.sqrt(ss / x.length + eps);
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i] * s * w[i];
        }
        return y;
    }

    static double[] rope(double[] v, int pos, int nHeads, int hs, double[] invFreq, double magnitude,
                         boolean interleaved) {
        for (int h = 0; h < nHeads; h++) {
            for (int i = 0; i < hs / 2; i++) {
                int a = h * hs + (interleaved ? 2 * i : i);
                int b = h * hs + (interleaved ? 2 * i + 1 : i + hs / 2);
                double ang = pos * invFreq[i], c = magnitude * Math.cos(ang), s = magnitude * Math.sin(ang);
                double va = v[a], vb = v[b];
                v[a] = va * c - vb * s;
                v[b] = va * s + vb * c;
            }
        }
        return v;
    }
}
