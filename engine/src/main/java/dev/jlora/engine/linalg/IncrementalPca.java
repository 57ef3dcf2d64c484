package dev.jlora.engine.linalg;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Incremental PCA (Ross, Lim, Lin and Yang 2008, "Incremental Learning for Robust Visual Tracking", §3.1, with the
 * mean update of their Algorithm 1), in the form scikit-learn's and PEFT's {@code IncrementalPCA.partial_fit} use:
 * each batch X [n × d] is centred on its own mean, stacked under the previous components scaled by their singular
 * values and one row √(m·n/(m+n))·(μ_old − μ_batch) for the shift of the mean, and the top k right-singular vectors of
 * that stack are the new components. Memory is O((k + n)·d) per batch, never all the data.
 *
 * <p>Signs: each component is flipped so that its largest-magnitude entry is positive (scikit-learn's
 * {@code svd_flip(u_based_decision=False)}), so components of successive batches can be compared by cosine similarity.
 */
public final class IncrementalPca {
    private final int k, d;
    private final SplittableRandom rnd;
    private long seen;
    private final double[] mean;
    private final double[] m2;            // Σ (x − mean)² per feature over everything seen
    private double[] components;          // [k × d]
    private double[] singularValues;      // [k]

    /** @param components k, at most d */
    public IncrementalPca(int components, int features, SplittableRandom rnd) {
        if (components <= 0 || components > features) {
            throw new IllegalArgumentException("incremental PCA: components must be in [1, " + features + "], got "
                    + components);
        }
        this.k = components;
        this.d = features;
        this.rnd = rnd;
        this.mean = new double[features];
        this.m2 = new double[features];
    }

    /** Whether at least one batch was fitted. */
    public boolean fitted() {
        return components != null;
    }

    public long samplesSeen() {
        return seen;
    }

    /** Folds the rows of x [n × d] into the decomposition; n must be at least k (scikit-learn's requirement). */
    public void partialFit(double[] x, int n) {
        if (n < k) {
            throw new IllegalArgumentException("incremental PCA: a batch needs at least " + k + " rows, got " + n);
        }
        Dense.checkShape("incremental PCA batch", x, n, d);
        double[] batchMean = new double[d];
        for (int r = 0; r < n; r++) {
            for (int j = 0; j < d; j++) {
                batchMean[j] += x[r * d + j];
            }
        }
        for (int j = 0; j < d; j++) {
            batchMean[j] /= n;
        }
        boolean first = seen == 0;
        int rows = first ? n : k + n + 1;
        double[] stack = new double[rows * d];
        int at = 0;
        if (!first) {
            for (int c = 0; c < k; c++) {
                for (int j = 0; j < d; j++) {
                    stack[c * d + j] = singularValues[c] * components[c * d + j];
                }
            }
            at = k;
        }
        double[] batchM2 = new double[d];
        for (int r = 0; r < n; r++) {
            for (int j = 0; j < d; j++) {
                double v = x[r * d + j] - batchMean[j];
                stack[(at + r) * d + j] = v;
                batchM2[j] += v * v;
            }
        }
        long total = seen + n;
        double shift = Math.sqrt((double) seen * n / total);
        for (int j = 0; j < d; j++) {
            double delta = mean[j] - batchMean[j];
            if (!first) {
                stack[(k + n) * d + j] = shift * delta;
            }
            // Chan et al.'s parallel variance update
            m2[j] += batchM2[j] + delta * delta * seen * n / total;
            mean[j] = (seen * mean[j] + n * batchMean[j]) / total;
        }
        seen = total;
        Svd svd = Svd.truncated(stack, rows, d, Math.min(k, Math.min(rows, d)), rnd);
        components = new double[k * d];
        singularValues = new double[k];
        System.arraycopy(svd.vt(), 0, components, 0, svd.k() * d);
        System.arraycopy(svd.s(), 0, singularValues, 0, svd.k());
        for (int c = 0; c < k; c++) {
            int argMax = 0;
            for (int j = 1; j < d; j++) {
                if (Math.abs(components[c * d + j]) > Math.abs(components[c * d + argMax])) {
                    argMax = j;
                }
            }
            if (components[c * d + argMax] < 0) {
                for (int j = 0; j < d; j++) {
                    components[c * d + j] = -components[c * d + j];
                }
            }
        }
    }

    /** The principal directions [k × d], row c the c-th (unit norm), by decreasing variance. */
    public double[] components() {
        requireFitted();
        return components.clone();
    }

    /** The singular values [k] of the centred data seen so far. */
    public double[] singularValues() {
        requireFitted();
        return singularValues.clone();
    }

    /** Share of the total variance of the data each component explains: σ_c² / Σ_j (x_j − μ_j)². */
    public double[] explainedVarianceRatio() {
        requireFitted();
        double total = Arrays.stream(m2).sum();
        double[] out = new double[k];
        for (int c = 0; c < k; c++) {
            out[c] = total > 0 ? singularValues[c] * singularValues[c] / total : 0;
        }
        return out;
    }

    private void requireFitted() {
        if (components == null) {
            throw new IllegalStateException("incremental PCA: no batch fitted yet");
        }
    }
}
