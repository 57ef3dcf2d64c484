package dev.jlora.quant;

import java.lang.foreign.MemorySegment;

/**
 * The scale searches shared by ggml's k-quants ({@code ggml-quants.c}: {@code nearest_int},
 * {@code make_qx_quants}, {@code make_qkx2_quants}, {@code get_scale_min_k4}), ported operation for operation in
 * float so that the quantized bytes match ggml's (compiled without FMA contraction: libggml-base has no FMA).
 */
final class KQuants {
    static final int QK_K = 256;
    /** ggml's GROUP_MAX_EPS: a group whose largest magnitude is below this is all zero. */
    static final float GROUP_MAX_EPS = 1e-15f;

    private KQuants() {}

    /** ggml {@code nearest_int}: round half to even via the 1.5·2²³ trick; valid for |f| ≤ 4194303. */
    static int nearestInt(float f) {
        float val = f + 12582912.f;
        return (Float.floatToRawIntBits(val) & 0x007fffff) - 0x00400000;
    }

    /**
     * ggml {@code make_qx_quants} for a signed group of {@code n} values at x[xOff] (no importance weights):
     * writes L[lOff + i] = l + nmax with l in [−nmax, nmax−1] and returns the scale.
     */
    static float makeQxQuants(int n, int nmax, float[] x, int xOff, byte[] L, int lOff, int rmseType) {
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[xOff + i]);
            if (ax > amax) {
                amax = ax;
                max = x[xOff + i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) L[lOff + i] = 0;
            return 0.f;
        }
        float iscale = -nmax / max;
        if (rmseType == 0) {
            for (int i = 0; i < n; i++) {
                int l = nearestInt(iscale * x[xOff + i]);
                L[lOff + i] = (byte) (nmax + Math.max(-nmax, Math.min(nmax - 1, l)));
            }
            return 1 / iscale;
        }
        boolean returnEarly = false;
        if (rmseType < 0) {
            rmseType = -rmseType;
            returnEarly = true;
        }
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
            float xi = x[xOff + i];
            int l = nearestInt(iscale * xi);
            l = Math.max(-nmax, Math.min(nmax - 1, l));
            L[lOff + i] = (byte) (l + nmax);
            float w = weight(rmseType, xi);
            sumlx += w * xi * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        if (returnEarly) {
            return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
        }
        float best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) continue;
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; i++) {
                float xi = x[xOff + i];
                int l = nearestInt(iscale * xi);
                l = Math.max(-nmax, Math.min(nmax - 1, l));
                float w = weight(rmseType, xi);
                sumlx += w * xi * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; i++) {
                    int l = nearestInt(iscale * x[xOff + i]);
                    L[lOff + i] = (byte) (nmax + Math.max(-nmax, Math.min(nmax - 1, l)));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    private static float weight(int rmseType, float x) {
        return switch (rmseType) {
            case 1 -> x * x;
            case 2 -> 1;
            case 3 -> Math.abs(x);
            default -> (float) Math.sqrt(Math.abs(x));
        };
    }

    /**
     * ggml {@code make_qkx2_quants}: an asymmetric group (scale and min) of {@code n} values at x[xOff], with
     * weights w, searching {@code nstep+1} candidate scales. Writes L[lOff + i] in [0, nmax]; returns the scale
     * and stores the (positive) min in theMin[mIdx].
     */
    static float makeQkx2Quants(int n, int nmax, float[] x, int xOff, float[] weights, byte[] L, int lOff,
                                float[] theMin, int mIdx, byte[] Laux, float rmin, float rdelta, int nstep,
                                boolean useMad) {
        float min = x[xOff], max = x[xOff];
        float sumW = weights[0];
        float sumX = sumW * x[xOff];
        for (int i = 1; i < n; i++) {
            float xi = x[xOff + i];
            if (xi < min) min = xi;
            if (xi > max) max = xi;
            float w = weights[i];
            sumW += w;
            sumX += w * xi;
        }
        if (min > 0) min = 0;
        if (max == min) {
            for (int i = 0; i < n; i++) L[lOff + i] = 0;
            theMin[mIdx] = -min;
            return 0.f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++) {
            int l = nearestInt(iscale * (x[xOff + i] - min));
            l = Math.max(0, Math.min(nmax, l));
            L[lOff + i] = (byte) l;
            float diff = scale * l + min - x[xOff + i];
            diff = useMad ? Math.abs(diff) : diff * diff;
            bestError += weights[i] * diff;
        }
        if (nstep < 1) {
            theMin[mIdx] = -min;
            return scale;
        }
        for (int is = 0; is <= nstep; is++) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++) {
                int l = nearestInt(iscale * (x[xOff + i] - min));
                l = Math.max(0, Math.min(nmax, l));
                Laux[i] = (byte) l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[xOff + i];
            }
            float D = sumW * sumL2 - sumL * sumL;
            if (D > 0) {
                float thisScale = (sumW * sumXL - sumX * sumL) / D;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / D;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; i++) {
                    float diff = thisScale * Laux[i] + thisMin - x[xOff + i];
                    diff = useMad ? Math.abs(diff) : diff * diff;
                    curError += weights[i] * diff;
                }
                if (curError < bestError) {
                    System.arraycopy(Laux, 0, L, lOff, n);
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin[mIdx] = -min;
        return scale;
    }

    /** ggml {@code get_scale_min_k4}: 6-bit scale of sub-block j packed in the 12 scale bytes at {@code off}. */
    static int scaleK4(MemorySegment s, long off, int j) {
        if (j < 4) {
            return Le.u8(s, off + j) & 63;
        }
        return (Le.u8(s, off + j + 4) & 0xF) | ((Le.u8(s, off + j - 4) >>> 6) << 4);
    }

    /** ggml {@code get_scale_min_k4}: 6-bit min of sub-block j. */
    static int minK4(MemorySegment s, long off, int j) {
        if (j < 4) {
            return Le.u8(s, off + j + 4) & 63;
        }
        return (Le.u8(s, off + j + 4) >>> 4) | ((Le.u8(s, off + j) >>> 6) << 4);
    }

    /**
     * All eight 6-bit scales of the 12 bytes at off, byte j = {@link #scaleK4}(j), unpacked with word operations as
     * ggml's AVX2 {@code ggml_vec_dot_q4_K_q8_K} does (kmask1/2/3) instead of eight branchy byte reads.
     */
    static long scalesK4(MemorySegment s, long off) {
        int u0 = s.get(Le.INT, off), u2 = s.get(Le.INT, off + 8);
        int low = u0 & 0x3f3f3f3f;                                        // j < 4: q[j] & 63
        int high = (u2 & 0x0f0f0f0f) | (((u0 >>> 6) & 0x03030303) << 4);  // j ≥ 4: q[j+4] & 0xF | (q[j−4] >> 6) << 4
        return (low & 0xFFFFFFFFL) | ((long) high << 32);
    }

    /** All eight 6-bit mins of the 12 bytes at off, byte j = {@link #minK4}(j) (see {@link #scalesK4}). */
    static long minsK4(MemorySegment s, long off) {
        int u1 = s.get(Le.INT, off + 4), u2 = s.get(Le.INT, off + 8);
        int low = u1 & 0x3f3f3f3f;                                                // j < 4: q[j+4] & 63
        int high = ((u2 >>> 4) & 0x0f0f0f0f) | (((u1 >>> 6) & 0x03030303) << 4);  // j ≥ 4: q[j+4] >> 4 | (q[j] >> 6) << 4
        return (low & 0xFFFFFFFFL) | ((long) high << 32);
    }

    /** Byte j (0 = lowest) of v, unsigned. */
    static int byteAt(long v, int j) {
        return (int) (v >>> (8 * j)) & 0xFF;
    }

    /** Same as {@link #scaleK4} over a heap copy of the 12 bytes. */
    static int scaleK4(byte[] q, int j) {
        return scaleK4(q, 0, j);
    }

    /** Same as {@link #minK4} over a heap copy of the 12 bytes. */
    static int minK4(byte[] q, int j) {
        return minK4(q, 0, j);
    }

    /** {@link #scaleK4} over the 12 bytes at q[o]. */
    static int scaleK4(byte[] q, int o, int j) {
        return j < 4 ? q[o + j] & 63 : (q[o + j + 4] & 0xF) | (((q[o + j - 4] & 0xFF) >>> 6) << 4);
    }

    /** {@link #minK4} over the 12 bytes at q[o]. */
    static int minK4(byte[] q, int o, int j) {
        return j < 4 ? q[o + j + 4] & 63 : ((q[o + j + 4] & 0xFF) >>> 4) | (((q[o + j] & 0xFF) >>> 6) << 4);
    }

    /**
     * The part of ggml's {@code quantize_row_q4_K_ref}/{@code q5_K_ref} shared by both: per 32-element sub-block
     * a weighted (scale, min) search, then 6-bit quantization of the eight scales and eight mins into the 12
     * packed bytes, and the final levels L in [0, nmax]. Writes d at 0, dmin at 2, the scales at 4 of the block.
     */
    static void quantizeScaleMinBlock(float[] x, int xOff, MemorySegment dst, long off, byte[] L, int nmax,
                                      float rmin, float rdelta, int nstep) {
        float[] mins = new float[QK_K / 32], scales = new float[QK_K / 32], weights = new float[32];
        byte[] Laux = new byte[32];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < QK_K / 32; j++) {
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) sumX2 += x[xOff + 32 * j + l] * x[xOff + 32 * j + l];
            float avX = (float) Math.sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = avX + Math.abs(x[xOff + 32 * j + l]);
            scales[j] = makeQkx2Quants(32, nmax, x, xOff + 32 * j, weights, L, 32 * j, mins, j, Laux,
                    rmin, rdelta, nstep, false);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
        float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
        byte[] sc = new byte[12];
        for (int j = 0; j < QK_K / 32; j++) {
            int ls = Math.min(63, nearestInt(invScale * scales[j]) & 0xFF);
            int lm = Math.min(63, nearestInt(invMin * mins[j]) & 0xFF);
            if (j < 4) {
                sc[j] = (byte) ls;
                sc[j + 4] = (byte) lm;
            } else {
                sc[j + 4] = (byte) ((ls & 0xF) | ((lm & 0xF) << 4));
                sc[j - 4] |= (byte) ((ls >>> 4) << 6);
                sc[j] |= (byte) ((lm >>> 4) << 6);
            }
        }
        Le.putF16(dst, off, maxScale / 63.f);
        Le.putF16(dst, off + 2, maxMin / 63.f);
        MemorySegment.copy(sc, 0, dst, java.lang.foreign.ValueLayout.JAVA_BYTE, off + 4, 12);
        float dAll = Le.f16(dst, off), dminAll = Le.f16(dst, off + 2);
        for (int j = 0; j < QK_K / 32; j++) {
            float d = dAll * scaleK4(sc, j);
            if (d == 0) continue; // ggml keeps the levels from the search for this sub-block
            float dm = dminAll * minK4(sc, j);
            for (int ii = 0; ii < 32; ii++) {
                int l = nearestInt((x[xOff + 32 * j + ii] + dm) / d);
                L[32 * j + ii] = (byte) Math.max(0, Math.min(nmax, l));
            }
        }
    }
}
