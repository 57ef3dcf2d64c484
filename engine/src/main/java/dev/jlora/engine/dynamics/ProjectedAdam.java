package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.linalg.Svd;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Adam in a low-rank subspace of each matrix's gradient, as GaLore (Zhao et al. 2024, "GaLore: Memory-Efficient LLM
 * Training by Gradient Low-Rank Projection", Algorithm 2 and its {@code GaLoreProjector}) defines it and OwLore and
 * Fira build on. For a gradient G [m × n], every {@code updateGap} steps the projection is refreshed from G's top-r
 * singular vectors: the shorter side is projected, as the reference does: m ≥ n keeps R = G·Qᵀ [m × r] with Q the
 * top right singular vectors [r × n]; m &lt; n keeps R = Pᵀ·G [r × n] with P the top left ones [m × r]. Adam moments
 * live in R's shape (the memory saving); they are kept across refreshes, as in the reference.
 * Everything (projections, moments, step counts) is checkpointed through {@link #state()}.
 */
final class ProjectedAdam {
    private final int rank, updateGap;
    private final double beta1, beta2, eps;
    private final long seed;
    private final Map<String, Slot> slots = new LinkedHashMap<>();

    /** One parameter's projection and moments. */
    static final class Slot {
        final int m, n, r;
        final boolean right;          // m ≥ n: R = G·Qᵀ; else R = Pᵀ·G
        final float[] proj;           // Q [r × n] or P [m × r]
        final float[] expAvg, expAvgSq;
        final float[] steps = new float[1];

        Slot(int m, int n, int r) {
            this.m = m;
            this.n = n;
            this.r = r;
            this.right = m >= n;
            this.proj = new float[right ? r * n : m * r];
            this.expAvg = new float[right ? m * r : r * n];
            this.expAvgSq = new float[expAvg.length];
        }
    }

    /** The low-rank gradient R and its Adam direction N = m̂/(√v̂ + ε), both in R's shape. */
    record Step(Slot slot, double[] low, double[] normalized) {}

    ProjectedAdam(int rank, int updateGap, double beta1, double beta2, double eps, long seed) {
        if (rank < 1 || updateGap < 1) {
            throw new IllegalArgumentException("low-rank projection: rank and update gap must be ≥ 1, got " + rank
                    + ", " + updateGap);
        }
        this.rank = rank;
        this.updateGap = updateGap;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.seed = seed;
    }

    /** Projects p's gradient (refreshing the projection when due), updates the moments, returns R and N. */
    Step step(Parameter p, int trainStep) {
        int[] shape = p.shape();
        if (shape.length != 2) {
            throw new IllegalArgumentException("low-rank projection needs a matrix, '" + p.name() + "' has shape "
                    + java.util.Arrays.toString(shape));
        }
        int m = shape[0], n = shape[1], r = Math.min(rank, Math.min(m, n));
        Slot s = slots.get(p.name());
        boolean refresh = s == null || trainStep % updateGap == 0;
        if (s == null) {
            s = new Slot(m, n, r);
            slots.put(p.name(), s);
        }
        double[] g = new double[m * n];
        for (int i = 0; i < g.length; i++) {
            g[i] = p.grad()[i];
        }
        if (refresh) {
            refreshProjection(s, g, p.name(), trainStep);
        }
        double[] low = project(s, g);
        s.steps[0]++;
        double bc1 = 1 - Math.pow(beta1, s.steps[0]), bc2 = 1 - Math.pow(beta2, s.steps[0]);
        double[] norm = new double[low.length];
        for (int i = 0; i < low.length; i++) {
            s.expAvg[i] = (float) (beta1 * s.expAvg[i] + (1 - beta1) * low[i]);
            s.expAvgSq[i] = (float) (beta2 * s.expAvgSq[i] + (1 - beta2) * low[i] * low[i]);
            norm[i] = (s.expAvg[i] / bc1) / (Math.sqrt(s.expAvgSq[i] / bc2) + eps);
        }
        return new Step(s, low, norm);
    }

    private void refreshProjection(Slot s, double[] g, String name, int trainStep) {
        var rnd = new SplittableRandom(seed ^ (name.hashCode() * 0x9E3779B97F4A7C15L) ^ trainStep);
        Svd svd = Svd.truncated(g, s.m, s.n, s.r, rnd);
        if (s.right) {
            for (int i = 0; i < s.proj.length; i++) {
                s.proj[i] = (float) svd.vt()[i];             // [r × n]
            }
        } else {
            for (int i = 0; i < s.m; i++) {
                for (int j = 0; j < s.r; j++) {
                    s.proj[i * s.r + j] = (float) svd.u()[i * svd.k() + j];   // [m × r]
                }
            }
        }
    }

    /** R = G·Qᵀ [m × r] or Pᵀ·G [r × n]. */
    static double[] project(Slot s, double[] g) {
        int m = s.m, n = s.n, r = s.r;
        if (s.right) {
            double[] out = new double[m * r];
            for (int i = 0; i < m; i++) {
                for (int k = 0; k < r; k++) {
                    double acc = 0;
                    for (int j = 0; j < n; j++) {
                        acc += g[i * n + j] * s.proj[k * n + j];
                    }
                    out[i * r + k] = acc;
                }
            }
            return out;
        }
        double[] out = new double[r * n];
        for (int i = 0; i < m; i++) {
            for (int k = 0; k < r; k++) {
                double pk = s.proj[i * r + k];
                for (int j = 0; j < n; j++) {
                    out[k * n + j] += pk * g[i * n + j];
                }
            }
        }
        return out;
    }

    /** The full-size [m × n] matrix of a low-rank one: L·Q or P·L. */
    static double[] back(Slot s, double[] low) {
        int m = s.m, n = s.n, r = s.r;
        double[] out = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int k = 0; k < r; k++) {
                double v = s.right ? low[i * r + k] : s.proj[i * r + k];
                for (int j = 0; j < n; j++) {
                    out[i * n + j] += v * (s.right ? s.proj[k * n + j] : low[k * n + j]);
                }
            }
        }
        return out;
    }

    /** Forgets p's projection and moments (a layer that leaves OwLore's sample starts afresh when drawn again). */
    void reset(String name) {
        slots.remove(name);
    }

    /** Projections, moments and step counts by {@code <param>.<what>}, sharing the live arrays. */
    Map<String, float[]> state() {
        var out = new LinkedHashMap<String, float[]>();
        slots.forEach((name, s) -> {
            out.put(name + ".proj", s.proj);
            out.put(name + ".exp_avg", s.expAvg);
            out.put(name + ".exp_avg_sq", s.expAvgSq);
            out.put(name + ".steps", s.steps);
        });
        return out;
    }

    /** Restores {@link #state()} for the parameters of {@code shapes} (name → {m, n}) that have saved slots. */
    void load(Map<String, float[]> state, Map<String, int[]> shapes) {
        slots.clear();
        shapes.forEach((name, mn) -> {
            float[] proj = state.get(name + ".proj");
            if (proj == null) {
                return;
            }
            Slot s = new Slot(mn[0], mn[1], Math.min(rank, Math.min(mn[0], mn[1])));
            copy(state, name + ".proj", s.proj);
            copy(state, name + ".exp_avg", s.expAvg);
            copy(state, name + ".exp_avg_sq", s.expAvgSq);
            copy(state, name + ".steps", s.steps);
            slots.put(name, s);
        });
    }

    private static void copy(Map<String, float[]> state, String key, float[] into) {
        float[] v = state.get(key);
        if (v == null || v.length != into.length) {
            throw new IllegalArgumentException("low-rank optimizer state '" + key + "' is "
                    + (v == null ? "missing" : v.length + " floats, expected " + into.length));
        }
        System.arraycopy(v, 0, into, 0, into.length);
    }
}
