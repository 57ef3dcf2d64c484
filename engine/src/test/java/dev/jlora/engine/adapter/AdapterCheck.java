package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.quant.QuantMatrix;
import dev.jlora.simd.testing.Approx;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * The checks every {@link TrainableAdapter} variant gets, against a float64 {@link VariantRefs.Ref}:
 * forward equals the reference; backward equals central finite differences of the reference in float64 for every
 * parameter element and every input element; mergeInto equals the unmerged forward; state round trip.
 */
final class AdapterCheck {
    private AdapterCheck() {}

    static double[] doubles(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    static float[] floats(SplittableRandom rnd, int n, double scale) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
        }
        return f;
    }

    /** The adapter's own parameters, then the ones it shares with other adapters (MoS's pools). */
    static List<Parameter> trainables(TrainableAdapter ad) {
        var all = new ArrayList<>(ad.parameters());
        all.addAll(ad.sharedParameters());
        return all;
    }

    /** Parameters (own and shared) and buffers as float64, by name (the Ref's inputs). */
    static Map<String, double[]> tensors(TrainableAdapter ad) {
        var m = new LinkedHashMap<String, double[]>();
        for (Parameter p : trainables(ad)) {
            m.put(p.name(), doubles(p.value()));
        }
        for (var e : ad.buffers().entrySet()) {
            m.put(e.getKey(), doubles(e.getValue()));
        }
        return m;
    }

    static double loss(double[] dy, double[] y) {
        double s = 0;
        for (int i = 0; i < y.length; i++) {
            s += dy[i] * y[i];
        }
        return s;
    }

    /**
     * Forward and backward of {@code ad} (dropout 0) against {@code ref} at the adapter's current values.
     * Tolerances: fp32 forward vs float64 reference 1e-5 abs + 1e-4 rel (sums of ≤ 40 O(1) terms); gradients vs
     * central differences (eps 1e-6 in float64, truncation error ~1e-12) 2e-5 abs + 5e-4 rel (fp32 accumulation of ≤ 40 O(1) terms: ~1e-6).
     */
    static void gradients(TrainableAdapter ad, VariantRefs.Ref ref, int T, long seed) {
        var rnd = new SplittableRandom(seed);
        int IC = ad.inFeatures(), OC = ad.outFeatures();
        float[] x = floats(rnd, T * IC, 1), dy = floats(rnd, T * OC, 1);
        Supplier<String> ctx = () -> ad.method() + " seed=" + seed;
        float[] y = new float[T * OC];
        for (Parameter p : trainables(ad)) {
            p.zeroGrad();
        }
        var saved = ad.forwardTrain(x, T, y, 0);
        float[] dx = new float[T * IC];
        ad.backward(x, T, dy, saved, dx);

        Map<String, double[]> p0 = tensors(ad);
        double[] xd = doubles(x), dyd = doubles(dy);
        Approx.assertClose(ref.delta(xd, T, p0), y, 1e-5, 1e-4, () -> ctx.get() + ": forward");

        double eps = 1e-6;
        for (Parameter p : trainables(ad)) {
            double[] v = p0.get(p.name());
            double[] fd = new double[v.length];
            for (int i = 0; i < v.length; i++) {
                double keep = v[i];
                v[i] = keep + eps;
                double up = loss(dyd, ref.delta(xd, T, p0));
                v[i] = keep - eps;
                double down = loss(dyd, ref.delta(xd, T, p0));
                v[i] = keep;
                fd[i] = (up - down) / (2 * eps);
            }
            Approx.assertClose(fd, p.grad(), 2e-5, 5e-4, () -> ctx.get() + ": d" + p.name());
        }
        double[] fdx = new double[xd.length];
        for (int i = 0; i < xd.length; i++) {
            double keep = xd[i];
            xd[i] = keep + eps;
            double up = loss(dyd, ref.delta(xd, T, p0));
            xd[i] = keep - eps;
            double down = loss(dyd, ref.delta(xd, T, p0));
            xd[i] = keep;
            fdx[i] = (up - down) / (2 * eps);
        }
        Approx.assertClose(fdx, dx, 2e-5, 5e-4, () -> ctx.get() + ": dx");
    }

    /** x·(W + ΔW)ᵀ from mergeInto equals x·Wᵀ + forward(x); 1e-5 abs + 1e-4 rel (fp32, different sum orders). */
    static void mergeMatchesForward(TrainableAdapter ad, QuantMatrix base, int T, long seed) {
        var rnd = new SplittableRandom(seed);
        int IC = ad.inFeatures(), OC = ad.outFeatures();
        float[] x = floats(rnd, T * IC, 1);
        float[] want = new float[T * OC];
        base.matmul(x, T, want);
        ad.forward(x, T, want);
        float[] w = new float[OC * IC];
        for (int o = 0; o < OC; o++) {
            base.dequantizeRow(o, w, o * IC);
        }
        ad.mergeInto(w);
        float[] got = new float[T * OC];
        new dev.jlora.engine.ref.F32Matrix(OC, IC, w).matmul(x, T, got);
        Approx.assertClose(doubles(want), got, 1e-5, 1e-4, () -> ad.method() + ": merged vs unmerged");
    }

    /**
     * Saving parameters and buffers by name and loading them into {@code fresh} reproduces the forward bit for bit.
     * Shared parameters are copied by name as {@link TrainableAdapterSet#load} does.
     */
    static void stateRoundTrip(TrainableAdapter ad, TrainableAdapter fresh, int T, long seed) {
        var state = new LinkedHashMap<String, float[]>();
        for (Parameter p : ad.parameters()) {
            state.put(p.name(), p.value().clone());
        }
        for (var e : ad.buffers().entrySet()) {
            state.put(e.getKey(), e.getValue().clone());
        }
        assertEquals(ad.config(), fresh.config(), "config");
        fresh.load(state);
        var shared = new LinkedHashMap<String, float[]>();
        for (Parameter p : ad.sharedParameters()) {
            shared.put(p.name(), p.value());
        }
        for (Parameter p : fresh.sharedParameters()) {
            System.arraycopy(shared.get(p.name()), 0, p.value(), 0, p.size());
        }
        var rnd = new SplittableRandom(seed);
        float[] x = floats(rnd, T * ad.inFeatures(), 1);
        float[] a = new float[T * ad.outFeatures()], b = new float[T * ad.outFeatures()];
        ad.forward(x, T, a);
        fresh.forward(x, T, b);
        for (int i = 0; i < a.length; i++) {
            assertEquals(a[i], b[i], 0f, ad.method() + ": round trip y[" + i + "]");
        }
        boolean nonzero = false;
        for (float v : a) {
            nonzero |= v != 0;
        }
        assertTrue(nonzero, ad.method() + ": the round-trip check needs a nonzero Δ(x)");
    }
}
