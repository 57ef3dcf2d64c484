package dev.jlora.engine.adapter;

/**
 * The low-rank product y += s·(xd·Aᵀ)·Bᵀ with dense A [r × IC] and B [OC × r], which LoRA computes directly and
 * several variants compute once they have assembled their A and B; its backward lives here once.
 */
final class LowRankPath {
    private LowRankPath() {}

    /** h = xd·Aᵀ [T × r]; y [T × OC] += s·h·Bᵀ. Returns h, which the backward needs. */
    static float[] forward(float[] xd, float[] a, float[] b, float s, int T, int r, int IC, int OC, float[] y) {
        float[] h = new float[T * r];
        SmallMatmul.abt(h, xd, a, T, r, IC);
        SmallMatmul.abtAcc(y, s, h, b, T, OC, r);
        return h;
    }

    /**
     * gB += s·dyᵀ·h;  dh = s·dy·B;  gA += dhᵀ·xd;  dx += drop'(dh·A) (skipped when dx is null). gA and gB are
     * gradients with A's and B's shapes (a parameter's grad, or scratch an assembling adapter distributes).
     */
    static void backward(float[] dy, float[] h, InputDropout drop, float[] a, float[] b, float s,
                         float[] gA, float[] gB, int T, int r, int IC, int OC, float[] dx) {
        SmallMatmul.atbAcc(gB, s, dy, h, T, OC, r);
        float[] dh = new float[T * r];
        SmallMatmul.ab(dh, s, dy, b, T, r, OC, false);
        SmallMatmul.atbAcc(gA, 1f, dh, drop.xd(), T, r, IC);
        inputGradient(dh, a, drop, T, r, IC, dx);
    }

    /** dx [T × IC] += drop'(dh·A) for dh [T × r]; nothing when dx is null (the layer's input needs no gradient). */
    static void inputGradient(float[] dh, float[] a, InputDropout drop, int T, int r, int IC, float[] dx) {
        if (dx == null) {
            return;
        }
        if (drop.keep() == null) {   // no dropout: accumulate straight into dx, no [T × IC] temporary
            SmallMatmul.ab(dx, 1f, dh, a, T, IC, r, true);
            return;
        }
        float[] dxd = new float[T * IC];
        SmallMatmul.ab(dxd, 1f, dh, a, T, IC, r, false);
        drop.backward(dxd, dx);
    }
}
