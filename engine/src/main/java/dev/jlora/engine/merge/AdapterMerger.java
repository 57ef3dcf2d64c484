package dev.jlora.engine.merge;

import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.linalg.Svd;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.quant.QuantMatrix;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Merges several adapters trained on the same base into one rank-r LoRA, module by module (layer, target):
 * combine the updates ΔWᵢ by a {@link MergeMethod}, then reduce the result to rank r by truncated SVD, the best
 * rank-r approximation in Frobenius norm (Eckart and Young 1936), written as B = U·√S, A = √S·Vᵀ with
 * alpha = r (scale 1).
 *
 * <p>Linear merging of LoRAs stays factored (Σ wᵢ·sᵢ·Bᵢ·Aᵢ is one LoRA with the factors concatenated) and is
 * reduced through {@link Svd#ofProduct}, so no OC × IC matrix is formed; TIES and DARE act on entries of ΔW and
 * form one module's ΔW at a time; LoRA-LEGO works on the LoRA units and needs no SVD. Adapters that are not plain
 * LoRA (DoRA, VeRA, …) enter through their merged update ΔW = merge(W) − W.
 */
public final class AdapterMerger {

    /**
     * @param weights one per adapter, or null for all 1
     * @param density fraction of entries TIES keeps / DARE keeps in expectation, in (0, 1]; ignored by the others
     * @param rank    rank of the merged LoRA; 0 for the default: Σ of the input ranks for {@code linear} (exact) and
     *                their maximum for the other methods
     * @param seed    DARE's drops and LoRA-LEGO's k-means seeding (and randomized SVD on large modules)
     */
    public record Config(MergeMethod method, double[] weights, double density, int rank, long seed) {
        public Config {
            if (method.usesDensity() && !(density > 0 && density <= 1)) {
                throw new IllegalArgumentException(method.cliName() + " needs a density in (0, 1] (the fraction of "
                        + "entries kept), got " + density);
            }
            if (rank < 0) {
                throw new IllegalArgumentException("merge rank must be positive (or 0 for the default), got " + rank);
            }
            if (weights != null) {
                for (double w : weights) {
                    if (!Double.isFinite(w)) {
                        throw new IllegalArgumentException("merge weights must be finite, got " + Arrays.toString(weights));
                    }
                }
            }
        }
    }

    /** One module of the result: its update's norm ‖ΔW‖_F before truncation and ‖ΔW − ΔW_r‖_F after it. */
    public record ModuleReport(int layer, Target target, double norm, double truncationError) {}

    /** The merged adapter (every module rank {@code rank}) and what truncation cost per module. */
    public record Result(TrainableAdapterSet adapters, int rank, List<ModuleReport> modules) {}

    private AdapterMerger() {}

    /** Merges {@code inputs}, all loaded for the model with {@code base}'s weights. */
    public static Result merge(List<TrainableAdapterSet> inputs, LlamaWeights base, Config cfg) {
        if (inputs.isEmpty()) {
            throw new IllegalArgumentException("nothing to merge: no adapters given");
        }
        double[] w = cfg.weights() == null ? filled(inputs.size(), 1) : cfg.weights();
        if (w.length != inputs.size()) {
            throw new IllegalArgumentException("--weights has " + w.length + " values for " + inputs.size() + " adapters");
        }
        Set<Target> targets = EnumSet.noneOf(Target.class);
        for (int i = 0; i < inputs.size(); i++) {
            if (inputs.get(i).layerCount() != base.layers().size()) {
                throw new IllegalArgumentException("adapter " + (i + 1) + " has " + inputs.get(i).layerCount()
                        + " layers but the base model has " + base.layers().size());
            }
            targets.addAll(inputs.get(i).targets());
        }
        boolean allLora = inputs.stream().allMatch(s -> s.adapters().stream().allMatch(a -> a instanceof LoraAdapter));
        if (cfg.method() == MergeMethod.LORA_LEGO && !allLora) {
            throw new UnsupportedOperationException("lora-lego merges plain LoRA adapters only (its units are rank-1 "
                    + "pairs of B and A); got " + methods(inputs) + ": use linear, ties or dare for these");
        }
        int rank = cfg.rank() > 0 ? cfg.rank() : defaultRank(inputs, cfg.method() == MergeMethod.LINEAR && allLora);

        var merged = new HashMap<String, LoraAdapter>();
        var reports = new ArrayList<ModuleReport>();
        for (int l = 0; l < base.layers().size(); l++) {
            for (Target t : targets) {
                QuantMatrix weight = TrainableAdapterSet.baseWeight(base.layers().get(l), t);
                var parts = new ArrayList<TrainableAdapter>();
                var partWeights = new ArrayList<Double>();
                for (int i = 0; i < inputs.size(); i++) {
                    TrainableAdapter a = inputs.get(i).get(l, t);
                    if (a != null) {
                        parts.add(a);
                        partWeights.add(w[i]);
                    }
                }
                long moduleSeed = TrainableAdapterSet.mix(cfg.seed(), l * 16L + t.ordinal());
                var out = new LoraAdapter(weight.cols(), weight.rows(), rank, rank, 0f, false);
                double[] ws = partWeights.stream().mapToDouble(Double::doubleValue).toArray();
                reports.add(mergeModule(l, t, parts, ws, weight, cfg, moduleSeed, out));
                merged.put(l + "." + t, out);
            }
        }
        var set = TrainableAdapterSet.create(base, targets, (layer, t, w0, rnd) -> merged.get(layer + "." + t), 0);
        return new Result(set, rank, List.copyOf(reports));
    }

    /** Merges one module's parts into {@code out} (rank r, scale 1) and reports the truncation. */
    private static ModuleReport mergeModule(int layer, Target t, List<TrainableAdapter> parts, double[] w,
                                            QuantMatrix base, Config cfg, long seed, LoraAdapter out) {
        int OC = base.rows(), IC = base.cols(), r = out.rank();
        boolean allLora = parts.stream().allMatch(a -> a instanceof LoraAdapter);
        if (allLora && (cfg.method() == MergeMethod.LINEAR || cfg.method() == MergeMethod.LORA_LEGO)) {
            var factored = new ArrayList<LowRankDelta>();
            for (int i = 0; i < parts.size(); i++) {
                factored.add(LowRankDelta.of((LoraAdapter) parts.get(i), w[i]));
            }
            if (cfg.method() == MergeMethod.LORA_LEGO) {
                LowRankDelta lego = LoraLego.merge(factored, r, new SplittableRandom(seed));
                copy(lego.b(), out.loraB().value());
                copy(lego.a(), out.loraA().value());
                return new ModuleReport(layer, t, lego.frobeniusNorm(), 0);
            }
            LowRankDelta sum = LowRankDelta.concat(factored);
            Svd svd = sum.svd();
            double tail = 0;
            for (int j = r; j < svd.k(); j++) {
                tail += svd.s()[j] * svd.s()[j];
            }
            writeFactors(svd.truncate(Math.min(r, svd.k())), out);
            return new ModuleReport(layer, t, sum.frobeniusNorm(), Math.sqrt(tail));
        }
        double[][] tau = new double[parts.size()][];
        var rnd = new SplittableRandom[parts.size()];
        for (int i = 0; i < parts.size(); i++) {
            tau[i] = denseDelta(parts.get(i), base);
            rnd[i] = new SplittableRandom(TrainableAdapterSet.mix(seed, i));
        }
        double[] delta = switch (cfg.method()) {
            case LINEAR -> TaskVectors.linear(tau, w);
            case TIES -> TaskVectors.ties(tau, w, cfg.density());
            case DARE -> TaskVectors.dareLinear(tau, w, cfg.density(), rnd);
            case DARE_TIES -> TaskVectors.dareTies(tau, w, cfg.density(), rnd);
            case LORA_LEGO -> throw new IllegalStateException("lora-lego is checked for LoRA inputs above");
        };
        double norm2 = 0;
        for (double v : delta) {
            norm2 += v * v;
        }
        Svd svd = Svd.truncated(delta, OC, IC, Math.min(r, Math.min(OC, IC)), new SplittableRandom(seed));
        double kept = 0;
        for (double s : svd.s()) {
            kept += s * s;
        }
        writeFactors(svd, out);
        return new ModuleReport(layer, t, Math.sqrt(norm2), Math.sqrt(Math.max(0, norm2 - kept)));
    }

    /** ΔW of any adapter as a dense [OC × IC] array: s·B·A for LoRA, merge(W) − W otherwise. */
    public static double[] denseDelta(TrainableAdapter a, QuantMatrix base) {
        if (a instanceof LoraAdapter lora) {
            return LowRankDelta.of(lora, 1).dense();
        }
        int OC = base.rows(), IC = base.cols();
        float[] w = new float[OC * IC];
        for (int o = 0; o < OC; o++) {
            base.dequantizeRow(o, w, o * IC);
        }
        float[] merged = w.clone();
        a.mergeInto(merged);
        double[] d = new double[w.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = (double) merged[i] - w[i];
        }
        return d;
    }

    /** B = U·√S, A = √S·Vᵀ into {@code out}'s first svd.k() ranks; ranks beyond are 0. */
    private static void writeFactors(Svd svd, LoraAdapter out) {
        int r = out.rank(), OC = out.outFeatures(), IC = out.inFeatures();
        float[] b = out.loraB().value(), a = out.loraA().value();
        for (int j = 0; j < svd.k(); j++) {
            double root = Math.sqrt(svd.s()[j]);
            for (int o = 0; o < OC; o++) {
                b[o * r + j] = (float) (svd.u()[o * svd.k() + j] * root);
            }
            for (int i = 0; i < IC; i++) {
                a[j * IC + i] = (float) (svd.vt()[j * IC + i] * root);
            }
        }
    }

    private static void copy(double[] from, float[] to) {
        for (int i = 0; i < to.length; i++) {
            to[i] = (float) from[i];
        }
    }

    /** Σ (linear over LoRAs: exact) or max of the inputs' largest module ranks. */
    private static int defaultRank(List<TrainableAdapterSet> inputs, boolean sum) {
        int total = 0;
        for (TrainableAdapterSet s : inputs) {
            int r = 0;
            for (TrainableAdapter a : s.adapters()) {
                r = Math.max(r, rankOf(a));
            }
            total = sum ? total + r : Math.max(total, r);
        }
        return total;
    }

    private static int rankOf(TrainableAdapter a) {
        if (a instanceof LoraAdapter l) {
            return l.rank();
        }
        String r = a.config().get("rank");
        if (r == null) {
            throw new IllegalArgumentException("adapter method '" + a.method() + "' has no rank to default to: pass --rank");
        }
        return Integer.parseInt(r);
    }

    private static String methods(List<TrainableAdapterSet> inputs) {
        var names = new java.util.TreeSet<String>();
        for (TrainableAdapterSet s : inputs) {
            for (TrainableAdapter a : s.adapters()) {
                names.add(a.method());
            }
        }
        return String.join(", ", names);
    }

    private static double[] filled(int n, double v) {
        double[] out = new double[n];
        Arrays.fill(out, v);
        return out;
    }
}
