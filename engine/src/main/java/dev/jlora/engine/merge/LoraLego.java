package dev.jlora.engine.merge;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * LoRA-LEGO (Zhao et al. 2024, "Merging LoRAs like Playing LEGO: Pushing the Modularity of LoRA to Extremes Through
 * Rank-Wise Clustering", ICLR 2025). §3: rank j of a LoRA, the pair (column j of B, row j of A), is a Minimal
 * Semantic Unit (MSU); B·A = Σⱼ bⱼ·aⱼᵀ, so units can be permuted and units of several LoRAs concatenated into one
 * LoRA whose update is the sum. §4: the units of all LoRAs, each flattened to [aⱼ; bⱼ], are grouped into k
 * clusters by k-means; each cluster's centroid is one unit of the merged LoRA, whose rank is k.
 *
 * <p>Dual reweighting (§4, "norm decay" and "variance expansion"), as we read it: averaging units that point in
 * different directions shrinks the centroid, so each centroid's A part and B part are rescaled to the mean norm of
 * the members' A and B parts (parameter reweighting); and summing clusters from n LoRAs inflates the output as a
 * concatenation of n LoRAs would, so the merged update is rescaled to the mean Frobenius norm of the input updates
 * (output reweighting). With n copies of one LoRA both factors are 1 and the LoRA comes back unchanged.
 *
 * <p>Each unit carries its LoRA's scale and merge weight in b (ΔW = (w·s·B)·A), so units of LoRAs with different
 * alpha or rank compare on the update they make. k-means starts from k-means++ seeds (Arthur and Vassilvitskii
 * 2007) drawn from the caller's stream and runs Lloyd iterations until no unit changes cluster.
 */
final class LoraLego {
    private static final int MAX_ITERATIONS = 200;

    private LoraLego() {}

    /**
     * The LoRA-LEGO merge of {@code loras} (same OC × IC) into rank {@code k}. Fewer than k units in total give
     * that many clusters and zero units after them.
     */
    static LowRankDelta merge(List<LowRankDelta> loras, int k, SplittableRandom rnd) {
        if (k <= 0) {
            throw new IllegalArgumentException("LoRA-LEGO: the number of clusters (rank) must be positive, got " + k);
        }
        int OC = loras.getFirst().OC(), IC = loras.getFirst().IC(), dim = IC + OC;
        var units = new ArrayList<double[]>();
        for (LowRankDelta d : loras) {
            if (d.OC() != OC || d.IC() != IC) {
                throw new IllegalArgumentException("LoRA-LEGO: cannot merge a " + d.OC() + "×" + d.IC()
                        + " LoRA with a " + OC + "×" + IC + " one");
            }
            for (int j = 0; j < d.rank(); j++) {
                double[] u = new double[dim];
                System.arraycopy(d.a(), j * IC, u, 0, IC);
                for (int o = 0; o < OC; o++) {
                    u[IC + o] = d.b()[o * d.rank() + j];
                }
                units.add(u);
            }
        }
        int clusters = Math.min(k, units.size());
        int[] assign = kMeans(units, clusters, rnd);

        double[] b = new double[OC * k], a = new double[k * IC];
        for (int c = 0; c < clusters; c++) {
            double[] mean = new double[dim];
            double normA = 0, normB = 0;
            int members = 0;
            for (int u = 0; u < units.size(); u++) {
                if (assign[u] == c) {
                    double[] x = units.get(u);
                    for (int i = 0; i < dim; i++) {
                        mean[i] += x[i];
                    }
                    normA += norm(x, 0, IC);
                    normB += norm(x, IC, dim);
                    members++;
                }
            }
            if (members == 0) {
                continue;   // only when several seeds coincide: that unit stays zero
            }
            for (int i = 0; i < dim; i++) {
                mean[i] /= members;
            }
            double fa = ratio(normA / members, norm(mean, 0, IC));
            double fb = ratio(normB / members, norm(mean, IC, dim));
            for (int i = 0; i < IC; i++) {
                a[c * IC + i] = mean[i] * fa;
            }
            for (int o = 0; o < OC; o++) {
                b[o * k + c] = mean[IC + o] * fb;
            }
        }
        var merged = new LowRankDelta(b, a, OC, IC, k);
        double target = 0;
        for (LowRankDelta d : loras) {
            target += d.frobeniusNorm();
        }
        target /= loras.size();
        double have = merged.frobeniusNorm();
        if (have > 0) {
            double f = target / have;
            for (int i = 0; i < b.length; i++) {
                b[i] *= f;
            }
        }
        return merged;
    }

    /** want / have, or 1 when have is 0 (a zero centroid stays zero). */
    private static double ratio(double want, double have) {
        return have > 0 ? want / have : 1;
    }

    /** Cluster index of every point: k-means++ seeding, then Lloyd iterations to a fixed point. */
    static int[] kMeans(List<double[]> points, int k, SplittableRandom rnd) {
        int n = points.size(), dim = points.getFirst().length;
        double[][] centers = new double[k][];
        centers[0] = points.get(rnd.nextInt(n)).clone();
        double[] d2 = new double[n];
        for (int c = 1; c < k; c++) {
            double total = 0;
            for (int p = 0; p < n; p++) {
                d2[p] = Double.POSITIVE_INFINITY;
                for (int q = 0; q < c; q++) {
                    d2[p] = Math.min(d2[p], distance2(points.get(p), centers[q]));
                }
                total += d2[p];
            }
            int pick = 0;
            if (total > 0) {   // P(pick = p) ∝ D²(p)
                double r = rnd.nextDouble() * total;
                while (pick < n - 1 && r >= d2[pick]) {
                    r -= d2[pick++];
                }
            } else {
                pick = rnd.nextInt(n);   // all points coincide with a centre: any point is as good
            }
            centers[c] = points.get(pick).clone();
        }
        int[] assign = new int[n];
        java.util.Arrays.fill(assign, -1);
        for (int it = 0; it < MAX_ITERATIONS; it++) {
            boolean moved = false;
            for (int p = 0; p < n; p++) {
                int best = 0;
                double bestD = Double.POSITIVE_INFINITY;
                for (int c = 0; c < k; c++) {
                    double d = distance2(points.get(p), centers[c]);
                    if (d < bestD) {
                        bestD = d;
                        best = c;
                    }
                }
                if (assign[p] != best) {
                    assign[p] = best;
                    moved = true;
                }
            }
            if (!moved) {
                break;
            }
            int[] count = new int[k];
            double[][] sums = new double[k][dim];
            for (int p = 0; p < n; p++) {
                count[assign[p]]++;
                double[] x = points.get(p);
                for (int i = 0; i < dim; i++) {
                    sums[assign[p]][i] += x[i];
                }
            }
            for (int c = 0; c < k; c++) {
                for (int i = 0; i < dim && count[c] > 0; i++) {
                    centers[c][i] = sums[c][i] / count[c];
                }
            }
            for (int c = 0; c < k; c++) {
                if (count[c] == 0) {
                    // an emptied cluster restarts at the point farthest from its centre, so k clusters remain
                    int far = farthest(points, centers, assign, count);
                    count[assign[far]]--;
                    assign[far] = c;
                    count[c] = 1;
                    centers[c] = points.get(far).clone();
                }
            }
        }
        return assign;
    }

    /** The point farthest from its cluster's centre, among clusters that keep a member without it. */
    private static int farthest(List<double[]> points, double[][] centers, int[] assign, int[] count) {
        int far = 0;
        double farD = -1;
        for (int p = 0; p < points.size(); p++) {
            if (count[assign[p]] > 1) {
                double d = distance2(points.get(p), centers[assign[p]]);
                if (d > farD) {
                    farD = d;
                    far = p;
                }
            }
        }
        return far;
    }

    private static double distance2(double[] x, double[] y) {
        double s = 0;
        for (int i = 0; i < x.length; i++) {
            double d = x[i] - y[i];
            s += d * d;
        }
        return s;
    }

    private static double norm(double[] x, int from, int to) {
        double s = 0;
        for (int i = from; i < to; i++) {
            s += x[i] * x[i];
        }
        return Math.sqrt(s);
    }
}
