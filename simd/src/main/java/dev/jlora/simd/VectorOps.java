package dev.jlora.simd;

import java.lang.foreign.MemorySegment;

/**
 * Float kernels over {@code float[]} and little-endian {@link MemorySegment}s. Implementations: {@link ScalarOps}
 * (always there; one loop per kernel, the specification) and {@link PanamaOps} ({@code jdk.incubator.vector}).
 * {@link #get()} returns the one chosen at start-up by {@link VectorOpsProvider}.
 *
 * <h2>Conventions</h2>
 * <ul>
 *   <li>Shape names follow {@code engine/package-info.java}: {@code T} rows (tokens), {@code C} channels,
 *       {@code V} vocabulary, {@code H} heads, {@code hs} head size. Buffers are row-major.</li>
 *   <li>Gradients carry a {@code d} prefix. Each javadoc says which buffers are overwritten and which are
 *       accumulated ({@code +=}).</li>
 *   <li>Element-wise kernels allow the output to alias an input at the same offset. Other aliasing is stated
 *       per kernel; anything not stated is not allowed.</li>
 *   <li>Offsets and lengths are checked by the JVM's array/segment bounds checks, not up front: an out-of-range
 *       call throws {@link IndexOutOfBoundsException} and may have written part of its output.</li>
 *   <li>Segments hold little-endian data at any alignment (safetensors data need not be aligned); byte offsets
 *       are in bytes, counts in elements. Segments are read in place, never copied to the heap.</li>
 *   <li>Results of the two implementations differ only by summation order and by the vector {@code exp};
 *       the tests state the tolerance for each kernel.</li>
 * </ul>
 */
public sealed interface VectorOps permits ScalarOps, PanamaOps {

    /** The implementation chosen once for this JVM (see {@link VectorOpsProvider}). */
    static VectorOps get() {
        return VectorOpsProvider.INSTANCE;
    }

    /** Short name for logs: {@code "scalar"} or {@code "panama-512"} (vector bit width). */
    String name();

    // ---------------------------------------------------------------- fp32 vector basics

    /** Σ a[aOff+i]·b[bOff+i] for i &lt; n. */
    float dot(float[] a, int aOff, float[] b, int bOff, int n);

    /** Σ a[i]·b[i] for i &lt; n. */
    default float dot(float[] a, float[] b, int n) {
        return dot(a, 0, b, 0, n);
    }

    /** y[yOff+i] += alpha·x[xOff+i] for i &lt; n. x and y may be the same array only at the same offset. */
    void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n);

    /** y[i] += alpha·x[i] for i &lt; n. */
    default void axpy(float alpha, float[] x, float[] y, int n) {
        axpy(alpha, x, 0, y, 0, n);
    }

    /**
     * y[yOff+j] += alpha·Σ_{i<k} x[xOff+i]·a[aOff + i·stride + j] for j &lt; m: y += alpha·Aᵀx with A a row-major
     * [k × m] block (row stride {@code stride}). Attention reads its KV pages this way, keys stored transposed (the
     * scores of a page's positions) and values as they are (the weighted sum): no horizontal sums.
     */
    void gemvT(float alpha, float[] x, int xOff, float[] a, int aOff, int stride, int k, int m, float[] y, int yOff);

    /** x[off+i] *= alpha for i &lt; n (in place). */
    void scale(float alpha, float[] x, int off, int n);

    /** Σ x[off+i] for i &lt; n. */
    float sum(float[] x, int off, int n);

    /** max x[off+i] for i &lt; n, with {@link Math#max} semantics (NaN if any entry is NaN); needs n ≥ 1. */
    float max(float[] x, int off, int n);

    // ---------------------------------------------------------------- segmented LoRA (S-LoRA's SGMV)

    /**
     * The LoRA delta of one segment of rows, applied in place through a row index list (S-LoRA, Sheng et al. 2023,
     * §5.1, after Punica's SGMV, Chen et al. 2023): for each {@code t = rows[rowOff+j]}, {@code j < m},
     * {@code h = A·x[t]} ([r]) and {@code y[t] += scale·B·h}. A batch with several adapters calls it once per
     * adapter with that adapter's rows, so no row is copied into a per-adapter block.
     *
     * @param y       {@code [· × OC]}, accumulated on the listed rows only; must not be {@code x}
     * @param x       {@code [· × IC]}, read on the listed rows
     * @param rows    row indices; a row listed twice gets the delta twice
     * @param a       A {@code [r × IC]}, row-major
     * @param b       B {@code [OC × r]}, row-major
     * @param scratch at least {@link #segmentedLoraScratch(int, int)} floats, overwritten
     * @throws IllegalArgumentException if scratch is too small
     */
    void segmentedLora(float[] y, float[] x, int[] rows, int rowOff, int m, int IC, int OC,
                       float[] a, float[] b, int r, float scale, float[] scratch);

    /** Scratch floats {@link #segmentedLora} needs for rank r and OC outputs: h [r] and a transposed B [r × OC]. */
    static int segmentedLoraScratch(int r, int OC) {
        return r * (OC + 1);
    }

    /** Throws unless scratch holds {@link #segmentedLoraScratch} floats (both implementations check the same size). */
    static void checkSegmentedLoraScratch(float[] scratch, int r, int OC) {
        if (scratch.length < segmentedLoraScratch(r, OC)) {
            throw new IllegalArgumentException("segmentedLora scratch has " + scratch.length + " floats, needs r·(OC+1) = "
                    + segmentedLoraScratch(r, OC) + " for r=" + r + " OC=" + OC);
        }
    }

    // ---------------------------------------------------------------- weights in mapped segments

    /** Σ a[i]·b[bOff+i] for i &lt; n, where a is fp32 little-endian at {@code aByteOff}. */
    float dot(MemorySegment a, long aByteOff, float[] b, int bOff, int n);

    /** Σ a[i]·b[bOff+i] for i &lt; n, where a is IEEE fp16 little-endian at {@code aByteOff}. */
    float dotF16(MemorySegment a, long aByteOff, float[] b, int bOff, int n);

    /** Σ a[i]·b[bOff+i] for i &lt; n, where a is bfloat16 little-endian at {@code aByteOff}. */
    float dotBf16(MemorySegment a, long aByteOff, float[] b, int bOff, int n);

    /** y[yOff+i] += alpha·x[i] for i &lt; n, where x is fp32 little-endian at {@code xByteOff}. */
    void axpy(float alpha, MemorySegment x, long xByteOff, float[] y, int yOff, int n);

    /** y[yOff+i] += alpha·x[i] for i &lt; n, where x is IEEE fp16 little-endian at {@code xByteOff}. */
    void axpyF16(float alpha, MemorySegment x, long xByteOff, float[] y, int yOff, int n);

    /** y[yOff+i] += alpha·x[i] for i &lt; n, where x is bfloat16 little-endian at {@code xByteOff}. */
    void axpyBf16(float alpha, MemorySegment x, long xByteOff, float[] y, int yOff, int n);

    // ---------------------------------------------------------------- conversions (exact widening, RNE narrowing)

    /** dst[dstOff+i] = src[i] for i &lt; n, src fp32 little-endian at {@code srcByteOff}. */
    void loadF32(MemorySegment src, long srcByteOff, float[] dst, int dstOff, int n);

    /** IEEE binary16 bits → float (exact, as {@link Float#float16ToFloat}); subnormals, ±inf and NaN preserved. */
    void f16ToF32(short[] src, int srcOff, float[] dst, int dstOff, int n);

    /** fp16 little-endian at {@code srcByteOff} → float (exact). */
    void f16ToF32(MemorySegment src, long srcByteOff, float[] dst, int dstOff, int n);

    /** float → IEEE binary16 bits, round to nearest even, overflow to ±inf (as {@link Float#floatToFloat16}). */
    void f32ToF16(float[] src, int srcOff, short[] dst, int dstOff, int n);

    /** float → fp16 little-endian at {@code dstByteOff}, rounding as {@link #f32ToF16(float[], int, short[], int, int)}. */
    void f32ToF16(float[] src, int srcOff, MemorySegment dst, long dstByteOff, int n);

    /** bfloat16 bits (the upper half of a float) → float (exact). */
    void bf16ToF32(short[] src, int srcOff, float[] dst, int dstOff, int n);

    /** bfloat16 little-endian at {@code srcByteOff} → float (exact). */
    void bf16ToF32(MemorySegment src, long srcByteOff, float[] dst, int dstOff, int n);

    /**
     * float → bfloat16 bits, round to nearest even; a NaN becomes a quiet NaN with its sign and top payload bits.
     * This is ggml's {@code ggml_compute_fp32_to_bf16}; PyTorch agrees except that it writes every NaN as 0x7FC0.
     */
    void f32ToBf16(float[] src, int srcOff, short[] dst, int dstOff, int n);

    /** float → bfloat16 little-endian at {@code dstByteOff}, rounding as {@link #f32ToBf16(float[], int, short[], int, int)}. */
    void f32ToBf16(float[] src, int srcOff, MemorySegment dst, long dstByteOff, int n);

    // ---------------------------------------------------------------- RMSNorm (Zhang & Sennrich 2019)

    /**
     * Per row t &lt; T: {@code rstd[t] = 1/sqrt(mean_c x[t,c]² + eps)}, {@code out[t,c] = x[t,c]·rstd[t]·weight[c]}.
     *
     * @param out    {@code [T, C]}, overwritten; may be {@code x} itself
     * @param rstd   {@code [T]}, overwritten; saved for {@link #rmsNormBackward}
     * @param x      {@code [T, C]}
     * @param weight {@code [C]}
     */
    void rmsNormForward(float[] out, float[] rstd, float[] x, float[] weight, int T, int C, float eps);

    /**
     * Backward of {@link #rmsNormForward}. With {@code g = dout·weight} per row:
     * {@code dx = rstd·g − rstd³·x·(Σ_c g_c·x_c)/C} (overwritten), {@code dweight[c] += Σ_t dout[t,c]·x[t,c]·rstd[t]}
     * (accumulated).
     *
     * @param dx      {@code [T, C]}, overwritten; may be {@code dout} itself
     * @param dweight {@code [C]}, accumulated
     */
    void rmsNormBackward(float[] dx, float[] dweight, float[] dout, float[] x, float[] weight, float[] rstd,
                         int T, int C);

    // ---------------------------------------------------------------- softmax over one row

    /**
     * {@code y[i] = exp(x[i] − m) / Σ_{j<len} exp(x[j] − m)} for i &lt; len, with m = max of the first len entries;
     * {@code y[i] = 0} for {@code len ≤ i < n}. {@code len < n} is the causal mask of attention row t
     * ({@code len = t+1}); masked entries of x are never read.
     *
     * @param y   overwritten; may be x at the same offset
     * @param n   row length
     * @param len unmasked prefix, {@code 1 ≤ len ≤ n}
     */
    void softmaxForward(float[] y, int yOff, float[] x, int xOff, int n, int len);

    /** {@link #softmaxForward(float[], int, float[], int, int, int)} without a mask ({@code len = n}). */
    default void softmaxForward(float[] y, int yOff, float[] x, int xOff, int n) {
        softmaxForward(y, yOff, x, xOff, n, n);
    }

    /**
     * Backward of {@link #softmaxForward}: {@code dx[i] = y[i]·(dy[i] − Σ_{j<len} y[j]·dy[j])} for i &lt; len,
     * {@code dx[i] = 0} for {@code len ≤ i < n}. Overwrites dx, which may be dy at the same offset.
     */
    void softmaxBackward(float[] dx, int dxOff, float[] dy, int dyOff, float[] y, int yOff, int n, int len);

    // ---------------------------------------------------------------- SiLU and SwiGLU (Shazeer 2020)

    /** {@code out[i] = x[i]·σ(x[i])} for i &lt; n, σ the logistic sigmoid. Overwrites out (may be x). */
    void siluForward(float[] out, float[] x, int n);

    /** {@code dx[i] = dout[i]·σ(x[i])·(1 + x[i]·(1 − σ(x[i])))}. Overwrites dx (may be dout). */
    void siluBackward(float[] dx, float[] dout, float[] x, int n);

    /** {@code out[i] = silu(gate[i])·up[i]} for i &lt; n (Llama's MLP). Overwrites out (may be gate or up). */
    void swigluForward(float[] out, float[] gate, float[] up, int n);

    /**
     * Backward of {@link #swigluForward}: {@code dgate[i] = dout[i]·up[i]·silu'(gate[i])},
     * {@code dup[i] = dout[i]·silu(gate[i])}. Overwrites dgate and dup; either may be dout.
     */
    void swigluBackward(float[] dgate, float[] dup, float[] dout, float[] gate, float[] up, int n);

    // ---------------------------------------------------------------- rotary position embedding (RoFormer §3.4)

    /**
     * Rotates, in place, each of the {@code H} heads of each of the {@code T} rows of {@code x}
     * ({@code [T, H·hs]}) by the angles of position {@code pos[t]}: for every pair {@code (a, b)} of the layout and
     * frequency index {@code i}, {@code a' = a·cos − b·sin}, {@code b' = a·sin + b·cos} with
     * {@code cos = tab.cos[pos[t]·hs/2 + i]}.
     *
     * @throws IllegalArgumentException if {@code hs != 2·tab.half()} or a position is outside the tables
     */
    void ropeForward(float[] x, int T, int H, int hs, int[] pos, RopeTables tab, RopeLayout layout);

    /**
     * Backward of {@link #ropeForward}: the rotation is orthogonal, so {@code dx = Rᵀ·dy}: rotates {@code d}
     * in place by the negated angles ({@code da = da'·cos + db'·sin}, {@code db = −da'·sin + db'·cos}).
     */
    void ropeBackward(float[] d, int T, int H, int hs, int[] pos, RopeTables tab, RopeLayout layout);

    /**
     * {@link #ropeForward(float[], int, int, int, int[], RopeTables, RopeLayout)} with standard frequencies
     * {@code theta^(−2i/hs)}; builds tables for the positions used on every call (prefer cached tables in loops).
     */
    default void ropeForward(float[] x, int T, int H, int hs, int[] pos, double theta, RopeLayout layout) {
        ropeForward(x, T, H, hs, pos, RopeTables.of(maxPosition(pos, T) + 1, hs, theta), layout);
    }

    /** {@link #ropeBackward(float[], int, int, int, int[], RopeTables, RopeLayout)} with standard frequencies. */
    default void ropeBackward(float[] d, int T, int H, int hs, int[] pos, double theta, RopeLayout layout) {
        ropeBackward(d, T, H, hs, pos, RopeTables.of(maxPosition(pos, T) + 1, hs, theta), layout);
    }

    // ---------------------------------------------------------------- cross-entropy with log-softmax

    /**
     * Σ over rows t &lt; T with {@code targets[t] ≥ 0} of {@code −log softmax(logits[t])[targets[t]]}, computed as
     * {@code logsumexp(row) − row[target]}. Rows with a negative target (masked prompt tokens, padding) add
     * nothing. Summed in double; divide by the number of counted rows for the mean.
     *
     * @param logits {@code [T, V]}
     * @throws IllegalArgumentException if a target is {@code ≥ V}
     */
    double crossEntropyLoss(float[] logits, int[] targets, int T, int V);

    /**
     * {@link #crossEntropyLoss} and its gradient: {@code dlogits[t] = dscale·(softmax(logits[t]) − onehot(targets[t]))}
     * for counted rows, zero for rows with a negative target. Pass {@code dscale = 1/counted rows} for the mean
     * loss. Overwrites dlogits, which may be logits itself (saves a {@code [T, V]} buffer).
     */
    double crossEntropyForwardBackward(float[] dlogits, float[] logits, int[] targets, int T, int V, float dscale);

    private static int maxPosition(int[] pos, int T) {
        int m = 0;
        for (int t = 0; t < T; t++) {
            m = Math.max(m, pos[t]);
        }
        return m;
    }
}
