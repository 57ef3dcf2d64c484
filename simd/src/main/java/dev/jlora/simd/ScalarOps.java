package dev.jlora.simd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The specification of every {@link VectorOps} kernel: one plain loop each, no tricks. {@link PanamaOps} is tested
 * against this class; keep it obviously correct rather than fast.
 */
public final class ScalarOps implements VectorOps {

    /** The only instance. */
    public static final ScalarOps INSTANCE = new ScalarOps();

    static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort S16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private ScalarOps() {}

    @Override
    public String name() {
        return "scalar";
    }

    // ---------------------------------------------------------------- fp32 vector basics

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        float s = 0;
        for (int i = 0; i < n; i++) {
            s += a[aOff + i] * b[bOff + i];
        }
        return s;
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        for (int i = 0; i < n; i++) {
            y[yOff + i] += alpha * x[xOff + i];
        }
    }

    @Override
    public void segmentedLora(float[] y, float[] x, int[] rows, int rowOff, int m, int IC, int OC,
                              float[] a, float[] b, int r, float scale, float[] scratch) {
        VectorOps.checkSegmentedLoraScratch(scratch, r, OC);
        for (int j = 0; j < m; j++) {
            int t = rows[rowOff + j];
            for (int k = 0; k < r; k++) {
                scratch[k] = dot(a, k * IC, x, t * IC, IC);
            }
            for (int o = 0; o < OC; o++) {
                y[t * OC + o] += scale * dot(b, o * r, scratch, 0, r);
            }
        }
    }

    @Override
    public void gemvT(float alpha, float[] x, int xOff, float[] a, int aOff, int stride, int k, int m, float[] y, int yOff) {
        for (int j = 0; j < m; j++) {
            float s = 0;
            for (int i = 0; i < k; i++) {
                s += x[xOff + i] * a[aOff + i * stride + j];
            }
            y[yOff + j] += alpha * s;
        }
    }

    @Override
    public void scale(float alpha, float[] x, int off, int n) {
        for (int i = 0; i < n; i++) {
            x[off + i] *= alpha;
        }
    }

    @Override
    public float sum(float[] x, int off, int n) {
        float s = 0;
        for (int i = 0; i < n; i++) {
            s += x[off + i];
        }
        return s;
    }

    @Override
    public float max(float[] x, int off, int n) {
        checkNonEmpty(n, "max");
        float m = x[off];
        for (int i = 1; i < n; i++) {
            m = Math.max(m, x[off + i]);
        }
        return m;
    }

    // ---------------------------------------------------------------- weights in mapped segments

    @Override
    public float dot(MemorySegment a, long aByteOff, float[] b, int bOff, int n) {
        float s = 0;
        for (int i = 0; i < n; i++) {
            s += a.get(F32_LE, aByteOff + 4L * i) * b[bOff + i];
        }
        return s;
    }

    @Override
    public float dotF16(MemorySegment a, long aByteOff, float[] b, int bOff, int n) {
        float s = 0;
        for (int i = 0; i < n; i++) {
            s += Float.float16ToFloat(a.get(S16_LE, aByteOff + 2L * i)) * b[bOff + i];
        }
        return s;
    }

    @Override
    public float dotBf16(MemorySegment a, long aByteOff, float[] b, int bOff, int n) {
        float s = 0;
        for (int i = 0; i < n; i++) {
            s += bf16ToFloat(a.get(S16_LE, aByteOff + 2L * i)) * b[bOff + i];
        }
        return s;
    }

    @Override
    public void axpy(float alpha, MemorySegment x, long xByteOff, float[] y, int yOff, int n) {
        for (int i = 0; i < n; i++) {
            y[yOff + i] += alpha * x.get(F32_LE, xByteOff + 4L * i);
        }
    }

    @Override
    public void axpyF16(float alpha, MemorySegment x, long xByteOff, float[] y, int yOff, int n) {
        for (int i = 0; i < n; i++) {
            y[yOff + i] += alpha * Float.float16ToFloat(x.get(S16_LE, xByteOff + 2L * i));
        }
    }

    @Override
    public void axpyBf16(float alpha, MemorySegment x, long xByteOff, float[] y, int yOff, int n) {
        for (int i = 0; i < n; i++) {
            y[yOff + i] += alpha * bf16ToFloat(x.get(S16_LE, xByteOff + 2L * i));
        }
    }

    // ---------------------------------------------------------------- conversions

    @Override
    public void loadF32(MemorySegment src, long srcByteOff, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = src.get(F32_LE, srcByteOff + 4L * i);
        }
    }

    @Override
    public void f16ToF32(short[] src, int srcOff, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = Float.float16ToFloat(src[srcOff + i]);
        }
    }

    @Override
    public void f16ToF32(MemorySegment src, long srcByteOff, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = Float.float16ToFloat(src.get(S16_LE, srcByteOff + 2L * i));
        }
    }

    @Override
    public void f32ToF16(float[] src, int srcOff, short[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = Float.floatToFloat16(src[srcOff + i]);
        }
    }

    @Override
    public void f32ToF16(float[] src, int srcOff, MemorySegment dst, long dstByteOff, int n) {
        for (int i = 0; i < n; i++) {
            dst.set(S16_LE, dstByteOff + 2L * i, Float.floatToFloat16(src[srcOff + i]));
        }
    }

    @Override
    public void bf16ToF32(short[] src, int srcOff, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = bf16ToFloat(src[srcOff + i]);
        }
    }

    @Override
    public void bf16ToF32(MemorySegment src, long srcByteOff, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = bf16ToFloat(src.get(S16_LE, srcByteOff + 2L * i));
        }
    }

    @Override
    public void f32ToBf16(float[] src, int srcOff, short[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = floatToBf16(src[srcOff + i]);
        }
    }

    @Override
    public void f32ToBf16(float[] src, int srcOff, MemorySegment dst, long dstByteOff, int n) {
        for (int i = 0; i < n; i++) {
            dst.set(S16_LE, dstByteOff + 2L * i, floatToBf16(src[srcOff + i]));
        }
    }

    /** bfloat16 is the upper 16 bits of a float. */
    static float bf16ToFloat(short h) {
        return Float.intBitsToFloat((h & 0xffff) << 16);
    }

    /** Round to nearest even on the dropped 16 bits; NaN kept quiet (ggml {@code ggml_compute_fp32_to_bf16}). */
    static short floatToBf16(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) {
            return (short) ((u >>> 16) | 0x40);
        }
        return (short) ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16);
    }

    // ---------------------------------------------------------------- RMSNorm

    @Override
    public void rmsNormForward(float[] out, float[] rstd, float[] x, float[] weight, int T, int C, float eps) {
        for (int t = 0; t < T; t++) {
            int row = t * C;
            float ss = 0;
            for (int c = 0; c < C; c++) {
                ss += x[row + c] * x[row + c];
            }
            float r = (float) (1.0 / Math.sqrt(ss / C + eps));
            rstd[t] = r;
            for (int c = 0; c < C; c++) {
                out[row + c] = x[row + c] * r * weight[c];
            }
        }
    }

    @Override
    public void rmsNormBackward(float[] dx, float[] dweight, float[] dout, float[] x, float[] weight, float[] rstd,
                                int T, int C) {
        for (int t = 0; t < T; t++) {
            int row = t * C;
            float r = rstd[t];
            float gx = 0;   // Σ_c dout·weight·x
            for (int c = 0; c < C; c++) {
                gx += dout[row + c] * weight[c] * x[row + c];
            }
            float k = r * r * r * gx / C;
            for (int c = 0; c < C; c++) {
                float g = dout[row + c];
                dweight[c] += g * x[row + c] * r;
                dx[row + c] = r * g * weight[c] - k * x[row + c];
            }
        }
    }

    // ---------------------------------------------------------------- softmax

    @Override
    public void softmaxForward(float[] y, int yOff, float[] x, int xOff, int n, int len) {
        checkMask(n, len);
        float m = max(x, xOff, len);
        float s = 0;
        for (int i = 0; i < len; i++) {
            float e = (float) Math.exp(x[xOff + i] - m);
            y[yOff + i] = e;
            s += e;
        }
        float inv = 1f / s;
        for (int i = 0; i < len; i++) {
            y[yOff + i] *= inv;
        }
        for (int i = len; i < n; i++) {
            y[yOff + i] = 0;
        }
    }

    @Override
    public void softmaxBackward(float[] dx, int dxOff, float[] dy, int dyOff, float[] y, int yOff, int n, int len) {
        checkMask(n, len);
        float yd = 0;   // Σ_j y[j]·dy[j]
        for (int i = 0; i < len; i++) {
            yd += y[yOff + i] * dy[dyOff + i];
        }
        for (int i = 0; i < len; i++) {
            dx[dxOff + i] = y[yOff + i] * (dy[dyOff + i] - yd);
        }
        for (int i = len; i < n; i++) {
            dx[dxOff + i] = 0;
        }
    }

    // ---------------------------------------------------------------- SiLU, SwiGLU

    static float sigmoid(float x) {
        return (float) (1.0 / (1.0 + Math.exp(-x)));
    }

    @Override
    public void siluForward(float[] out, float[] x, int n) {
        for (int i = 0; i < n; i++) {
            out[i] = x[i] * sigmoid(x[i]);
        }
    }

    @Override
    public void siluBackward(float[] dx, float[] dout, float[] x, int n) {
        for (int i = 0; i < n; i++) {
            float s = sigmoid(x[i]);
            dx[i] = dout[i] * s * (1 + x[i] * (1 - s));
        }
    }

    @Override
    public void swigluForward(float[] out, float[] gate, float[] up, int n) {
        for (int i = 0; i < n; i++) {
            out[i] = gate[i] * sigmoid(gate[i]) * up[i];
        }
    }

    @Override
    public void swigluBackward(float[] dgate, float[] dup, float[] dout, float[] gate, float[] up, int n) {
        for (int i = 0; i < n; i++) {
            float g = gate[i], s = sigmoid(g), d = dout[i];
            float dg = d * up[i] * s * (1 + g * (1 - s));
            dup[i] = d * g * s;
            dgate[i] = dg;
        }
    }

    // ---------------------------------------------------------------- rotary embedding

    @Override
    public void ropeForward(float[] x, int T, int H, int hs, int[] pos, RopeTables tab, RopeLayout layout) {
        rope(x, T, H, hs, pos, tab, layout, 1f);
    }

    @Override
    public void ropeBackward(float[] d, int T, int H, int hs, int[] pos, RopeTables tab, RopeLayout layout) {
        rope(d, T, H, hs, pos, tab, layout, -1f);
    }

    /** Rotation by {@code sign·angle}; sign −1 is the transpose, i.e. the backward. */
    private static void rope(float[] x, int T, int H, int hs, int[] pos, RopeTables tab, RopeLayout layout,
                             float sign) {
        checkRope(T, hs, pos, tab);
        int half = hs / 2;
        // Pair (a, b) of frequency i sits at (2i, 2i+1) interleaved, (i, i+half) half-split.
        int aStride = layout == RopeLayout.INTERLEAVED ? 2 : 1;
        int bShift = layout == RopeLayout.INTERLEAVED ? 1 : half;
        for (int t = 0; t < T; t++) {
            int tabRow = pos[t] * half;
            for (int h = 0; h < H; h++) {
                int base = (t * H + h) * hs;
                for (int i = 0; i < half; i++) {
                    float c = tab.cos()[tabRow + i], s = sign * tab.sin()[tabRow + i];
                    int ia = base + aStride * i, ib = ia + bShift;
                    float a = x[ia], b = x[ib];
                    x[ia] = a * c - b * s;
                    x[ib] = a * s + b * c;
                }
            }
        }
    }

    // ---------------------------------------------------------------- cross-entropy

    @Override
    public double crossEntropyLoss(float[] logits, int[] targets, int T, int V) {
        double loss = 0;
        for (int t = 0; t < T; t++) {
            int target = checkTarget(targets, t, V);
            if (target < 0) {
                continue;
            }
            int row = t * V;
            float m = max(logits, row, V);
            float s = 0;
            for (int v = 0; v < V; v++) {
                s += (float) Math.exp(logits[row + v] - m);
            }
            loss += m + Math.log(s) - logits[row + target];
        }
        return loss;
    }

    @Override
    public double crossEntropyForwardBackward(float[] dlogits, float[] logits, int[] targets, int T, int V,
                                              float dscale) {
        double loss = 0;
        for (int t = 0; t < T; t++) {
            int target = checkTarget(targets, t, V);
            int row = t * V;
            if (target < 0) {
                for (int v = 0; v < V; v++) {
                    dlogits[row + v] = 0;
                }
                continue;
            }
            float m = max(logits, row, V);
            float s = 0;
            for (int v = 0; v < V; v++) {
                s += (float) Math.exp(logits[row + v] - m);
            }
            float logS = (float) Math.log(s);
            loss += m + logS - logits[row + target];
            for (int v = 0; v < V; v++) {
                float p = (float) Math.exp(logits[row + v] - m - logS);
                dlogits[row + v] = dscale * (v == target ? p - 1 : p);
            }
        }
        return loss;
    }

    // ---------------------------------------------------------------- argument checks shared with PanamaOps

    static void checkNonEmpty(int n, String kernel) {
        if (n < 1) {
            throw new IllegalArgumentException(kernel + " needs n >= 1, got " + n);
        }
    }

    static void checkMask(int n, int len) {
        if (len < 1 || len > n) {
            throw new IllegalArgumentException("softmax: need 1 <= len <= n, got len=" + len + ", n=" + n);
        }
    }

    static void checkRope(int T, int hs, int[] pos, RopeTables tab) {
        if (hs != 2 * tab.half()) {
            throw new IllegalArgumentException("rope: head size " + hs + " does not match tables built for head size "
                    + 2 * tab.half());
        }
        for (int t = 0; t < T; t++) {
            if (pos[t] < 0 || pos[t] >= tab.maxPos()) {
                throw new IllegalArgumentException("rope: position " + pos[t] + " of row " + t
                        + " is outside the tables [0, " + tab.maxPos() + ")");
            }
        }
    }

    static int checkTarget(int[] targets, int t, int V) {
        int target = targets[t];
        if (target >= V) {
            throw new IllegalArgumentException("cross-entropy: target " + target + " of row " + t
                    + " is not below the vocabulary size " + V);
        }
        return target;
    }
}
