package dev.jlora.engine.ref;

import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaWeights;
import java.util.Map;

/**
 * Float64 reference of the Llama decoder with LoRA adapters, written token by token with no saved state, for
 * finite-difference checks of the training graph. Loss = mean cross-entropy over targets ≥ 0.
 *
 * @param lora (layer·16 + target ordinal) → {A [r × IC], B [OC × r]} in double; scale s applies to all
 * Base tensors can be replaced by double values ({@link #base()}, keyed by {@code TrainableBase}'s parameter
 * names: {@code embed_tokens.weight}, {@code layers.N.input_layernorm.weight}, {@code norm.weight},
 * {@code lm_head.weight}, …) to check the gradients of trained base tensors.
 */
public final class LlamaRef {
    private final LlamaConfig c;
    private final LlamaWeights w;
    private final Map<Integer, double[][]> lora;
    private final double s;
    private final Map<String, double[]> base = new java.util.HashMap<>();
    private AttentionMask mask = (h, t, s) -> true;

    /** Which keys query head h at position t may see besides causality (s ≤ t); all by default. */
    public interface AttentionMask {
        boolean visible(int h, int t, int s);
    }

    public LlamaRef(LlamaConfig c, LlamaWeights w, Map<Integer, double[][]> lora, double s) {
        this.c = c;
        this.w = w;
        this.lora = lora;
        this.s = s;
    }

    public Map<Integer, double[][]> lora() {
        return lora;
    }

    /** Double-precision replacements of base tensors by name (empty: the model's own); mutable. */
    public Map<String, double[]> base() {
        return base;
    }

    /** Restricts attention to the keys {@code mask} allows (e.g. LongLoRA's S²-Attn groups); returns this. */
    public LlamaRef withAttentionMask(AttentionMask mask) {
        this.mask = mask;
        return this;
    }

    public static int key(int layer, Target t) {
        return layer * 16 + t.ordinal();
    }

    public double loss(int[] inputs, int[] targets, int B, int T) {
        double sum = 0;
        int n = 0;
        for (int b = 0; b < B; b++) {
            double[][] logits = forward(inputs, b, T);
            for (int t = 0; t < T; t++) {
                int tgt = targets[b * T + t];
                if (tgt < 0) {
                    continue;
                }
                double max = Double.NEGATIVE_INFINITY;
                for (double v : logits[t]) {
                    max = Math.max(max, v);
                }
                double z = 0;
                for (double v : logits[t]) {
                    z += Math.exp(v - max);
                }
                sum += Math.log(z) + max - logits[t][tgt];
                n++;
            }
        }
        return n == 0 ? 0 : sum / n;
    }

    /** Logits [T][V] of sequence b. */
    public double[][] forward(int[] inputs, int b, int T) {
        int C = c.dim(), hs = c.headDim(), H = c.nHeads(), KVH = c.nKvHeads();
        double[][] x = new double[T][];
        for (int t = 0; t < T; t++) {
            double[] e = base.get("embed_tokens.weight");
            if (e != null) {
                x[t] = java.util.Arrays.copyOfRange(e, inputs[b * T + t] * C, (inputs[b * T + t] + 1) * C);
                continue;
            }
            float[] row = new float[C];
            w.tokenEmbedding().dequantizeRow(inputs[b * T + t], row, 0);
            x[t] = toDouble(row);
        }
        for (int l = 0; l < c.nLayers(); l++) {
            var lw = w.layers().get(l);
            double[][] q = new double[T][], k = new double[T][], v = new double[T][];
            for (int t = 0; t < T; t++) {
                double[] n1 = rmsNorm(x[t], norm("layers." + l + ".input_layernorm.weight", lw.attnNorm()));
                q[t] = rope(add(linear(l, Target.Q, lw.wq(), n1), lw.bq()), t, H);
                k[t] = rope(add(linear(l, Target.K, lw.wk(), n1), lw.bk()), t, KVH);
                v[t] = add(linear(l, Target.V, lw.wv(), n1), lw.bv());
            }
            for (int t = 0; t < T; t++) {
                double[] att = new double[H * hs];
                for (int h = 0; h < H; h++) {
                    int kvh = h / (H / KVH);
                    double[] sc = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int s2 = 0; s2 <= t; s2++) {
                        if (!mask.visible(h, t, s2)) {
                            sc[s2] = Double.NEGATIVE_INFINITY;   // exp gives 0: the key takes no part
                            continue;
                        }
                        for (int i = 0; i < hs; i++) {
                            sc[s2] += q[t][h * hs + i] * k[s2][kvh * hs + i];
                        }
                        sc[s2] /= Math.sqrt(hs);
                        max = Math.max(max, sc[s2]);
                    }
                    double z = 0;
                    for (int s2 = 0; s2 <= t; s2++) {
                        sc[s2] = Math.exp(sc[s2] - max);
                        z += sc[s2];
                    }
                    for (int s2 = 0; s2 <= t; s2++) {
                        for (int i = 0; i < hs; i++) {
                            att[h * hs + i] += sc[s2] / z * v[s2][kvh * hs + i];
                        }
                    }
                }
                double[] o = linear(l, Target.O, lw.wo(), att);
                for (int i = 0; i < C; i++) {
                    o[i] += x[t][i];
                }
                double[] n2 = rmsNorm(o, norm("layers." + l + ".post_attention_layernorm.weight", lw.ffnNorm()));
                double[] g = linear(l, Target.GATE, lw.wGate(), n2), u = linear(l, Target.UP, lw.wUp(), n2);
                for (int i = 0; i < g.length; i++) {
                    g[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
                }
                double[] d = linear(l, Target.DOWN, lw.wDown(), g);
                for (int i = 0; i < C; i++) {
                    d[i] += o[i];
                }
                x[t] = d;  // safe: later positions of this layer only read q, k, v, computed above
            }
        }
        double[][] logits = new double[T][];
        for (int t = 0; t < T; t++) {
            double[] n = rmsNorm(x[t], norm("norm.weight", w.finalNorm()));
            double[] head = base.get("lm_head.weight");
            if (head == null) {
                logits[t] = matvec(w.output(), n);
                continue;
            }
            logits[t] = new double[head.length / C];
            for (int o = 0; o < logits[t].length; o++) {
                for (int i = 0; i < C; i++) {
                    logits[t][o] += head[o * C + i] * n[i];
                }
            }
        }
        return logits;
    }

    private double[] linear(int l, Target t, dev.jlora.quant.QuantMatrix m, double[] in) {
        if (m == null) {
            throw new IllegalStateException("missing weight for layer " + l + " " + t);
        }
        double[] y = matvec(m, in);
        double[][] ab = lora.get(key(l, t));
        if (ab != null) {
            double[] a = ab[0], bb = ab[1];
            int IC = in.length, r = a.length / IC, OC = y.length;
            double[] h = new double[r];
            for (int j = 0; j < r; j++) {
                for (int i = 0; i < IC; i++) {
                    h[j] += a[j * IC + i] * in[i];
                }
            }
            for (int o = 0; o < OC; o++) {
                for (int j = 0; j < r; j++) {
                    y[o] += s * bb[o * r + j] * h[j];
                }
            }
        }
        return y;
    }

    private final java.util.IdentityHashMap<dev.jlora.quant.QuantMatrix, float[][]> dequantized =
            new java.util.IdentityHashMap<>();

    /** W·in with W dequantized once (dequantizeRow is the definition of a stored matrix's values). */
    private double[] matvec(dev.jlora.quant.QuantMatrix m, double[] in) {
        float[][] rows = dequantized.computeIfAbsent(m, k -> {
            float[][] r = new float[k.rows()][k.cols()];
            for (int o = 0; o < k.rows(); o++) {
                k.dequantizeRow(o, r[o], 0);
            }
            return r;
        });
        double[] y = new double[m.rows()];
        for (int o = 0; o < m.rows(); o++) {
            for (int i = 0; i < in.length; i++) {
                y[o] += rows[o][i] * in[i];
            }
        }
        return y;
    }

    private double[] norm(String name, float[] frozen) {
        double[] d = base.get(name);
        return d != null ? d : toDouble(frozen);
    }

    private double[] rmsNorm(double[] x, double[] weight) {
        double ss = 0;
        for (double v : x) {
            ss += v * v;
        }
        double r = 1 / Math.sqrt(ss / x.length + c.rmsEps());
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i] * r * weight[i];
        }
        return y;
    }

    private double[] rope(double[] x, int pos, int nh) {
        int hs = c.headDim(), half = hs / 2;
        double[] y = x.clone();
        for (int h = 0; h < nh; h++) {
            for (int i = 0; i < half; i++) {
                double ang = pos * Math.pow(c.ropeTheta(), -2.0 * i / hs);
                int i0 = c.ropeInterleaved() ? h * hs + 2 * i : h * hs + i;
                int i1 = c.ropeInterleaved() ? i0 + 1 : i0 + half;
                y[i0] = x[i0] * Math.cos(ang) - x[i1] * Math.sin(ang);
                y[i1] = x[i0] * Math.sin(ang) + x[i1] * Math.cos(ang);
            }
        }
        return y;
    }

    private static double[] add(double[] y, float[] bias) {
        if (bias != null) {
            for (int i = 0; i < y.length; i++) {
                y[i] += bias[i];
            }
        }
        return y;
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}
