package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.FullAdapter;
import dev.jlora.engine.adapter.LinearAdapter;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.data.Batch;
import dev.jlora.engine.data.BatchSampler;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.train.TrainingHook;
import dev.jlora.quant.QuantMatrix;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * OwLore (Li, Yin, Gao &amp; Liu 2024, "OwLore: Outlier-weighed Layerwise Sampled Low-Rank Projection for
 * Memory-Efficient LLM Fine-tuning", §3), checked against the authors' code (github.com/pixeli99/OwLore,
 * {@code src/lmflow/pipeline/finetuner.py}, {@code DynamicLayerActivationCallback} with {@code lisa_prob_mode=owl}):
 * LISA-style layer sampling ({@link Lisa}) in which layer l is drawn with probability p_l = D_l / Σ D, D_l its
 * outlier ratio (the reference reads one ratio per layer and normalises by their sum, then draws
 * {@code lisa_activated_layers} distinct layers with these probabilities), and the sampled layers' full weights are
 * trained with GaLore's low-rank projected Adam ({@link ProjectedAdam}) instead of full Adam.
 *
 * <p>Layerwise outlier distribution (§3.1, after OWL, Yin et al. 2024, whose {@code check_outlier_mean} the ratios
 * come from): a weight's outlier score is A_ij = |W_ij|·‖X_j‖₂ with ‖X_j‖ the norm of input feature j over
 * calibration tokens; D_l is the fraction of the weights of all of layer l's linears whose score exceeds M times the
 * layer's mean score ({@code owlore_outlier_M}). Default M = 13: the reference ships its LLaMA-2 ratios precomputed as
 * {@code metric_cache/llama2_7b_ratio_13.txt} (OWL's file naming, ratio at M = 13); the paper's text was not readable
 * here to confirm. The calibration runs once, at construction, on {@code owlore_calibration_batches} training batches
 * through the frozen model (input norms are collected by probe adapters that add nothing), so it is a function of the
 * data and the seed.
 *
 * <p>Updates: the embedding, the head, the final norm (and a sampled layer's norms if trained) follow the trainer's
 * optimizer; the sampled layers' ΔW matrices are updated by this hook after the trainer's step with
 * W ← W − lr·α·back(Adam(R)), with the reference's GaLore settings as defaults: rank {@code owlore_rank} 256 (the
 * reference fixes it for every attention and MLP linear), refresh {@code owlore_update_gap} 100, scale α
 * {@code owlore_galore_scale} 1.0. Sampling period and layer count default to LISA's (2 layers every 20 steps; the
 * reference's LLaMA-2-7B script uses 5 of 32 layers every 50 steps). Departure, said plainly: a layer's projected
 * Adam state is dropped when it leaves the sample, so optimizer memory stays that of γ layers (the reference's GaLore
 * optimizer keeps the state of every layer ever sampled); unsampled layers' full adapters are frozen (no
 * weight-gradient products in backward). Requires {@code --method full --train-base embed,head}.
 */
public final class OwLore implements TrainingHook {
    private final int layers, activated, interval;
    private final long seed;
    private final double galoreScale;
    private final double[] probabilities;
    private final double[] outlierRatios;
    private final ProjectedAdam adam;
    private final Map<String, int[]> shapes = new LinkedHashMap<>();
    private final List<Parameter> matrices;
    private final TrainableAdapterSet adapters;
    private int period = -1;
    private int[] sampled = new int[0];
    private boolean[] isSampled;
    private float lr;

    public OwLore(LlamaModel model, TrainableAdapterSet adapters, Dataset data, TrainConfig cfg, int activated,
                  int interval, double outlierM, int calibrationBatches, int rank, int updateGap, double galoreScale) {
        Lisa.requireFullTraining("owlore", adapters);
        this.layers = adapters.layerCount();
        if (activated < 1 || activated > layers || interval < 1 || calibrationBatches < 1 || !(outlierM > 0)) {
            throw new IllegalArgumentException("owlore: owlore_activated_layers must be in [1, " + layers + "], "
                    + "owlore_interval_steps and owlore_calibration_batches ≥ 1, owlore_outlier_M > 0; got "
                    + activated + ", " + interval + ", " + calibrationBatches + ", " + outlierM);
        }
        this.activated = activated;
        this.interval = interval;
        this.seed = cfg.seed();
        this.galoreScale = galoreScale;
        this.isSampled = new boolean[layers];
        this.adapters = adapters;
        this.matrices = adapters.parameters().stream().filter(p -> p.name().endsWith(FullAdapter.DELTA)).toList();
        for (Parameter p : matrices) {
            shapes.put(p.name(), p.shape());
        }
        this.adam = new ProjectedAdam(rank, updateGap, cfg.beta1(), cfg.beta2(), cfg.eps(), cfg.seed());
        double[][][] inputNormsSq = calibrate(model, data, cfg, calibrationBatches);
        this.outlierRatios = new double[layers];
        for (int l = 0; l < layers; l++) {
            outlierRatios[l] = outlierRatio(model, l, inputNormsSq[l], outlierM);
        }
        double sum = Arrays.stream(outlierRatios).sum();
        this.probabilities = new double[layers];
        for (int l = 0; l < layers; l++) {
            // no layer has outliers at this M: fall back to LISA's uniform sampling
            probabilities[l] = sum > 0 ? outlierRatios[l] / sum : 1.0 / layers;
        }
    }

    /** Σ_t x[t, j]² of the input of every (layer, target) over the calibration batches: [layer][target][j]. */
    private static double[][][] calibrate(LlamaModel model, Dataset data, TrainConfig cfg, int batches) {
        int L = model.weights().layers().size();
        double[][][] sums = new double[L][Target.values().length][];
        LinearAdapter[][] probes = new LinearAdapter[L][Target.values().length];
        for (int l = 0; l < L; l++) {
            for (Target t : Target.values()) {
                double[] acc = new double[TrainableAdapterSet.baseWeight(model.weights().layers().get(l), t).cols()];
                sums[l][t.ordinal()] = acc;
                probes[l][t.ordinal()] = (x, T, y) -> {
                    int IC = acc.length;
                    for (int i = 0; i < T * IC; i++) {
                        acc[i % IC] += (double) x[i] * x[i];
                    }
                };
            }
        }
        AdapterSet probeSet = (layer, target) -> probes[layer][target.ordinal()];
        var graph = new LlamaTrainGraph(model.config(), model.weights(), probeSet, cfg.batchSize(), cfg.seqLen(), false);
        var sampler = new BatchSampler(data, cfg.batchSize(), cfg.seed());
        for (int b = 0; b < batches; b++) {
            Batch batch = sampler.next();
            graph.loss(batch.inputs(), batch.targets());
        }
        return sums;
    }

    /** D_l: fraction of layer l's weights with |W_ij|·‖X_j‖ above M × the layer's mean score (OWL's LOD). */
    private static double outlierRatio(LlamaModel model, int l, double[][] inputNormsSq, double m) {
        var layer = model.weights().layers().get(l);
        long count = 0;
        double total = 0;
        for (Target t : Target.values()) {
            QuantMatrix w = TrainableAdapterSet.baseWeight(layer, t);
            count += (long) w.rows() * w.cols();
        }
        double[][] scores = new double[Target.values().length][];
        for (Target t : Target.values()) {
            QuantMatrix w = TrainableAdapterSet.baseWeight(layer, t);
            double[] norms = inputNormsSq[t.ordinal()];
            double[] s = new double[w.rows() * w.cols()];
            float[] row = new float[w.cols()];
            for (int o = 0; o < w.rows(); o++) {
                w.dequantizeRow(o, row, 0);
                for (int j = 0; j < w.cols(); j++) {
                    s[o * w.cols() + j] = Math.abs(row[j]) * Math.sqrt(norms[j]);
                    total += s[o * w.cols() + j];
                }
            }
            scores[t.ordinal()] = s;
        }
        double threshold = m * total / count;
        long outliers = 0;
        for (double[] s : scores) {
            for (double v : s) {
                if (v > threshold) {
                    outliers++;
                }
            }
        }
        return (double) outliers / count;
    }

    /** The per-layer sampling probabilities p_l = D_l / Σ D. */
    public double[] probabilities() {
        return probabilities.clone();
    }

    @Override
    public String name() {
        return "owlore";
    }

    @Override
    public void beforeStep(int step, int totalSteps) {
        int p = step / interval;
        if (p != period) {
            use(p, Lisa.sample(seed, p, probabilities, activated));
        }
    }

    private void use(int newPeriod, int[] chosen) {
        boolean[] now = new boolean[layers];
        for (int l : chosen) {
            now[l] = true;
        }
        for (Parameter m : matrices) {
            if (!now[Lisa.layerOf(m)]) {
                adam.reset(m.name());
            }
        }
        period = newPeriod;
        sampled = chosen;
        isSampled = now;
        Lisa.freezeUnsampled(adapters, isSampled);
    }

    @Override
    public boolean isActive(Parameter p) {
        int l = Lisa.layerOf(p);
        return l < 0 || (isSampled[l] && !shapes.containsKey(p.name()));
    }

    @Override
    public void adjustGradients(int step, float lr, List<Parameter> active) {
        this.lr = lr;
    }

    @Override
    public void afterStep(int step) {
        for (Parameter p : matrices) {
            if (!isSampled[Lisa.layerOf(p)]) {
                continue;
            }
            ProjectedAdam.Step st = adam.step(p, step);
            double[] dir = ProjectedAdam.back(st.slot(), st.normalized());
            float[] w = p.value();
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) (w[i] - lr * galoreScale * dir[i]);
            }
        }
    }

    @Override
    public Map<String, Object> metrics() {
        return Map.of("owlore_layers", Arrays.stream(sampled).boxed().toList());
    }

    @Override
    public Map<String, float[]> state() {
        return adam.state();
    }

    @Override
    public Map<String, String> meta() {
        var m = new LinkedHashMap<String, String>();
        m.put("period", Integer.toString(period));
        m.put("layers", String.join(",", Arrays.stream(sampled).mapToObj(Integer::toString).toList()));
        m.put("outlier_ratios", String.join(",", Arrays.stream(outlierRatios).mapToObj(Double::toString).toList()));
        return m;
    }

    @Override
    public void load(Map<String, float[]> state, Map<String, String> meta) {
        int[] ls = Lisa.checkpointedLayers("owlore", meta, layers);
        period = Integer.parseInt(meta.getOrDefault("period", "-1"));
        sampled = ls;
        isSampled = new boolean[layers];
        for (int l : ls) {
            isSampled[l] = true;
        }
        Lisa.freezeUnsampled(adapters, isSampled);
        adam.load(state, shapes);
    }
}
