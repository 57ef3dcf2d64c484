package dev.jlora.simd;

/**
 * Precomputed rotary-embedding angles: {@code cos[p·half + i] = cos(p·invFreq[i])} and likewise {@code sin}, for
 * positions {@code 0 ≤ p < maxPos} and frequency index {@code 0 ≤ i < half = hs/2}.
 *
 * <p>Angles are computed in double and rounded once to float, so both kernel implementations see identical tables.
 *
 * @param cos    {@code [maxPos, half]} row-major
 * @param sin    {@code [maxPos, half]} row-major
 * @param maxPos number of positions covered
 * @param half   number of rotated pairs per head, {@code hs/2}
 */
public record RopeTables(float[] cos, float[] sin, int maxPos, int half) {

    public RopeTables {
        if (maxPos < 0 || half < 1) {
            throw new IllegalArgumentException("RopeTables: need maxPos >= 0 and half >= 1, got maxPos=" + maxPos
                    + ", half=" + half);
        }
        long need = (long) maxPos * half;
        if (cos.length < need || sin.length < need) {
            throw new IllegalArgumentException("RopeTables: cos/sin must hold maxPos·half = " + need
                    + " entries, got " + cos.length + " and " + sin.length);
        }
    }

    /**
     * The standard RoPE frequencies {@code invFreq[i] = theta^(−2i/hs)} (RoFormer eq. 15; Llama 2 uses
     * {@code theta = 10000}, Llama 3 {@code 500000}).
     */
    public static double[] inverseFrequencies(int hs, double theta) {
        if (hs < 2 || (hs & 1) != 0) {
            throw new IllegalArgumentException("rotary head size must be even and >= 2, got " + hs);
        }
        double[] inv = new double[hs / 2];
        for (int i = 0; i < inv.length; i++) {
            inv[i] = Math.pow(theta, -2.0 * i / hs);
        }
        return inv;
    }

    /** Tables for positions {@code [0, maxPos)} with the standard frequencies of {@link #inverseFrequencies}. */
    public static RopeTables of(int maxPos, int hs, double theta) {
        return fromFrequencies(maxPos, inverseFrequencies(hs, theta));
    }

    /**
     * Tables from caller-supplied inverse frequencies (e.g. after Llama 3.1's {@code rope_scaling}, which rescales
     * the low frequencies; the caller applies that rule and passes the result here).
     */
    public static RopeTables fromFrequencies(int maxPos, double[] invFreq) {
        return fromFrequencies(maxPos, invFreq, 1.0);
    }

    /**
     * Tables of {@code magnitude·cos} and {@code magnitude·sin}: the rotation followed by a uniform scaling, as
     * YaRN's attention temperature needs (its reference implementations scale cos and sin, hence q and k).
     * The backward ({@code ropeBackward}, Rᵀ from the same tables) then applies the same scaling, as it should.
     */
    public static RopeTables fromFrequencies(int maxPos, double[] invFreq, double magnitude) {
        int half = invFreq.length;
        if (maxPos < 0 || (long) maxPos * half > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("RopeTables: maxPos·half = " + maxPos + "·" + half
                    + " does not fit in one array");
        }
        if (!(magnitude > 0) || !Double.isFinite(magnitude)) {
            throw new IllegalArgumentException("RopeTables: magnitude must be a positive number, got " + magnitude);
        }
        float[] cos = new float[maxPos * half], sin = new float[maxPos * half];
        for (int p = 0; p < maxPos; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * invFreq[i];
                cos[p * half + i] = (float) (magnitude * Math.cos(angle));
                sin[p * half + i] = (float) (magnitude * Math.sin(angle));
            }
        }
        return new RopeTables(cos, sin, maxPos, half);
    }
}
