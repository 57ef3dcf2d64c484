package dev.jlora.engine.analysis;

import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.linalg.Svd;
import dev.jlora.engine.merge.AdapterMerger;
import dev.jlora.engine.merge.LowRankDelta;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.quant.QuantMatrix;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Spectral analysis of an adapter's updates ΔW, module by module:
 * <ul>
 * <li>the singular values of ΔW (exact; through the factors for LoRA, {@link Svd#ofProduct});</li>
 * <li>the effective rank of Roy and Vetterli (2007, "The effective rank: a measure of effective dimensionality",
 * Def. 1): exp(H(p)) with pᵢ = σᵢ / Σⱼ σⱼ and H the Shannon entropy in nats;</li>
 * <li>the 90%-energy rank: the fewest leading σᵢ with Σ σᵢ² ≥ 0.9·‖ΔW‖_F²;</li>
 * <li>‖ΔW‖_F / ‖W‖_F;</li>
 * <li>intruder dimensions (Shuttleworth et al. 2024, "LoRA vs Full Fine-tuning: An Illusion of Equivalence", §4,
 * Algorithm 1): among the top k left singular vectors yⱼ of the fine-tuned W + ΔW, those whose largest cosine
 * similarity with every left singular vector xᵢ of W is below ε. Singular vectors have no sign, so the cosine is
 * taken in absolute value. This needs the full SVD of two OC × IC matrices (one-sided Jacobi), so modules with
 * min(OC, IC) above {@link Options#intruderLimit()} are skipped.</li>
 * </ul>
 */
public final class AdapterAnalysis {

    /**
     * @param intruderTopK    k: how many leading singular vectors of W + ΔW are examined (the paper uses 10)
     * @param intruderEpsilon ε: the cosine below which a vector is an intruder
     * @param intruderLimit   largest min(OC, IC) for which intruders are computed
     */
    public record Options(int intruderTopK, double intruderEpsilon, int intruderLimit) {
        public static final Options DEFAULT = new Options(10, 0.5, 1024);

        public Options {
            if (intruderTopK <= 0) {
                throw new IllegalArgumentException("intruder k must be positive, got " + intruderTopK);
            }
            if (!(intruderEpsilon > 0 && intruderEpsilon <= 1)) {
                throw new IllegalArgumentException("intruder epsilon must be in (0, 1], got " + intruderEpsilon);
            }
        }
    }

    /**
     * One module's figures. {@code intruders} is -1 when the module was too large to examine; {@code intruderK}
     * is the number of vectors examined (k, or fewer for a small module).
     */
    public record Module(int layer, Target target, String method, int OC, int IC, double[] singularValues,
                         double effectiveRank, int energyRank90, double relativeNorm, int intruders, int intruderK) {}

    private AdapterAnalysis() {}

    /** Every module of {@code adapters} (loaded for the model with {@code base}), in (layer, target) order. */
    public static List<Module> analyze(TrainableAdapterSet adapters, LlamaWeights base, Options opt) {
        var out = new ArrayList<Module>();
        for (int l = 0; l < adapters.layerCount(); l++) {
            for (Target t : Target.values()) {
                TrainableAdapter a = adapters.get(l, t);
                if (a != null) {
                    out.add(analyzeModule(l, t, a, TrainableAdapterSet.baseWeight(base.layers().get(l), t), opt));
                }
            }
        }
        return out;
    }

    /** The figures of one adapter on the frozen weight {@code w}. */
    public static Module analyzeModule(int layer, Target t, TrainableAdapter a, QuantMatrix w, Options opt) {
        int OC = w.rows(), IC = w.cols();
        double[] delta;
        double[] sigma;
        if (a instanceof LoraAdapter lora) {
            LowRankDelta f = LowRankDelta.of(lora, 1);
            sigma = f.svd().s();
            delta = f.dense();
        } else {
            delta = AdapterMerger.denseDelta(a, w);
            sigma = Svd.jacobi(delta, OC, IC).s();
        }
        double[] weight = new double[OC * IC];
        float[] row = new float[IC];
        for (int o = 0; o < OC; o++) {
            w.dequantizeRow(o, row, 0);
            for (int i = 0; i < IC; i++) {
                weight[o * IC + i] = row[i];
            }
        }
        double dn = 0, wn = 0;
        for (int i = 0; i < delta.length; i++) {
            dn += delta[i] * delta[i];
            wn += weight[i] * weight[i];
        }
        int k = Math.min(opt.intruderTopK(), Math.min(OC, IC));
        int intruders = -1;
        if (Math.min(OC, IC) <= opt.intruderLimit()) {
            double[] tuned = weight.clone();
            for (int i = 0; i < tuned.length; i++) {
                tuned[i] += delta[i];
            }
            intruders = intruderDimensions(weight, tuned, OC, IC, k, opt.intruderEpsilon());
        }
        return new Module(layer, t, a.method(), OC, IC, sigma, effectiveRank(sigma), energyRank(sigma, 0.9),
                wn > 0 ? Math.sqrt(dn / wn) : Double.NaN, intruders, k);
    }

    /** Roy and Vetterli's effective rank exp(−Σ pᵢ·ln pᵢ), pᵢ = σᵢ / Σσ; 0 for an all-zero spectrum. */
    public static double effectiveRank(double[] sigma) {
        double sum = 0;
        for (double s : sigma) {
            sum += s;
        }
        if (sum <= 0) {
            return 0;
        }
        double h = 0;
        for (double s : sigma) {
            if (s > 0) {
                double p = s / sum;
                h -= p * Math.log(p);
            }
        }
        return Math.exp(h);
    }

    /** The fewest leading values whose squares hold {@code fraction} of Σ σᵢ² (σ descending); 0 for all zeros. */
    public static int energyRank(double[] sigma, double fraction) {
        double total = 0;
        for (double s : sigma) {
            total += s * s;
        }
        if (total <= 0) {
            return 0;
        }
        double acc = 0;
        for (int i = 0; i < sigma.length; i++) {
            acc += sigma[i] * sigma[i];
            if (acc >= fraction * total) {
                return i + 1;
            }
        }
        return sigma.length;
    }

    /**
     * Shuttleworth et al. Algorithm 1: how many of the top k left singular vectors of {@code tuned} have
     * maxᵢ |cos(yⱼ, xᵢ)| &lt; ε over all left singular vectors xᵢ of {@code weight} (both [OC × IC]).
     */
    public static int intruderDimensions(double[] weight, double[] tuned, int OC, int IC, int k, double epsilon) {
        return (int) Arrays.stream(maxCosines(weight, tuned, OC, IC, k)).filter(c -> c < epsilon).count();
    }

    /** For each of the top k left singular vectors of {@code tuned}, its largest |cos| with those of {@code weight}. */
    public static double[] maxCosines(double[] weight, double[] tuned, int OC, int IC, int k) {
        Svd pre = Svd.jacobi(weight, OC, IC), post = Svd.jacobi(tuned, OC, IC);
        double[] out = new double[k];
        for (int j = 0; j < k; j++) {
            double best = 0;
            for (int i = 0; i < pre.k(); i++) {
                double dot = 0;
                for (int o = 0; o < OC; o++) {
                    dot += post.u()[o * post.k() + j] * pre.u()[o * pre.k() + i];
                }
                best = Math.max(best, Math.abs(dot));   // columns are unit vectors: the dot is the cosine
            }
            out[j] = best;
        }
        return out;
    }
}
