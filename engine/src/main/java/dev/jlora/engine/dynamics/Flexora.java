package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.data.Batch;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.optim.AdamW;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.train.TrainingHook;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Flexora (Wei, Shu, He &amp; Yu 2024, "Flexora: Flexible Low Rank Adaptation for Large Language Models", arXiv
 * 2408.10774, §4 "The Flexora Framework" as its Figure 1 and abstract state it, equations from the code released
 * as the paper's, github.com/kithib/Flexora): layer selection for LoRA framed as hyper-parameter optimisation.
 * Three stages:
 * <ol>
 *   <li>Initialisation: one hyper-parameter α_l per decoder layer (α = 0); the output of every adapter of layer l is
 *       multiplied by α̂_l = L·softmax(α)_l (so α = 0 gives plain LoRA).</li>
 *   <li>Flexible layer selection ({@code flexora_search_steps} steps): the adapters are trained on the training
 *       batches with the gates applied (the gates get no gradient from the training loss); after every optimizer step
 *       α takes one Adam step on the validation loss at the updated adapters, ∇_α L_val(θ_{t+1}, α): unrolled
 *       differentiation over one step, with the dependence of θ_{t+1} on α dropped (first order), as the reference
 *       implementation does ({@code BlockOptimizer.hyper_step} in {@code flora.py}: the training forward uses the
 *       gates detached, the hyper step back-propagates {@code flexora_val_batches} held-out batches, summed, into α;
 *       Adam, lr {@code flexora_lr} = 0.01, α initialised to zeros).</li>
 *   <li>Selection and fine-tuning: the layers with α̂_l &gt; 1 (α_l &gt; 0, the reference's {@code selected_layer}:
 *       more than the uniform share) are selected; the adapters are reset to their initial values and from then on
 *       only the selected layers' parameters are updated, without gates (the reference's second run fine-tunes fresh
 *       LoRA on the selected layers with the others frozen).</li>
 * </ol>
 * {@code flexora_layers=0,3,…} skips the search and fine-tunes the given layers: the reference's two-run procedure
 * (search run, then a run on the selected list) exactly.
 *
 * <p>The held-out batches are the run's evaluation rows ({@code --eval-fraction}), cycled in order. The validation
 * forward is the training forward of the adapters, so adapter dropout applies in it (the reference runs it in eval
 * mode: use {@code --dropout 0} to match). Within one run the optimizer's moments and the learning-rate schedule
 * continue from the search stage into fine-tuning (the reference restarts both with its second run).
 *
 * <p>Not taken from the paper, whose §4 text we could not read in full (only the abstract, Figure 1 and the authors'
 * code): the gate's exact equation and the selection threshold follow the code. The code registers its gate as a
 * forward pre-hook on each LoRA sub-module (dropout, A and B), which multiplies the branch by α̂ once per sub-module;
 * we multiply the adapter's output once, as Figure 1 describes the gate.
 */
public final class Flexora implements TrainingHook {
    public static final String NAME = "flexora";
    private final TrainableAdapterSet adapters;
    private final Dataset data;
    private final TrainConfig cfg;
    private final int layers, searchSteps, valBatches;
    private final float lr;
    private final Map<String, float[]> initial;     // adapter values at construction: what fine-tuning restarts from
    private final float[] alpha, gates, gateGrads;
    private final Parameter alphaParam;             // α as a parameter of the hyper-optimizer (not of the trainer)
    private final AdamW hyperOptimizer = new AdamW(0.9f, 0.999f, 1e-8f, 0f);   // torch.optim.Adam's defaults
    private boolean[] selected;                     // null during the search
    private LlamaTrainGraph graph;
    private double lastValLoss = Double.NaN;

    /**
     * @param searchSteps steps of the layer-selection stage (ignored when {@code fixedLayers} is given)
     * @param fixedLayers layers to fine-tune without a search, or null
     */
    public Flexora(TrainableAdapterSet adapters, Dataset data, TrainConfig cfg, int searchSteps, float lr,
                   int valBatches, int[] fixedLayers) {
        this.adapters = adapters;
        this.data = data;
        this.cfg = cfg;
        this.layers = adapters.layerCount();
        this.searchSteps = searchSteps;
        this.lr = lr;
        this.valBatches = valBatches;
        this.alpha = new float[layers];
        this.gates = new float[layers];
        this.gateGrads = new float[layers];
        this.alphaParam = new Parameter("flexora.alpha", new int[] {layers}, alpha, new float[layers]);
        if (adapters.adapters().isEmpty()) {
            throw new IllegalArgumentException("flexora selects layers of adapters: the run has none");
        }
        if (fixedLayers != null) {
            selected = new boolean[layers];
            for (int l : fixedLayers) {
                if (l < 0 || l >= layers) {
                    throw new IllegalArgumentException("flexora: flexora_layers lists layer " + l + " of a " + layers
                            + "-layer model");
                }
                selected[l] = true;
            }
        } else {
            if (searchSteps < 1 || searchSteps >= cfg.steps()) {
                throw new IllegalArgumentException("flexora: flexora_search_steps must be in [1, " + (cfg.steps() - 1)
                        + "] (the search stage, then fine-tuning of the selected layers, within --steps " + cfg.steps()
                        + "), got " + searchSteps);
            }
            if (data.eval().isEmpty()) {
                throw new IllegalArgumentException("flexora trains its layer gates on held-out data: set "
                        + "--eval-fraction above 0 (the run has no evaluation rows)");
            }
        }
        if (!(lr > 0) || valBatches < 1) {
            throw new IllegalArgumentException("flexora: flexora_lr must be > 0 and flexora_val_batches ≥ 1, got "
                    + lr + " and " + valBatches);
        }
        this.initial = new LinkedHashMap<>();
        adapters.state().forEach((k, v) -> initial.put(k, v.clone()));
        updateGates();
    }

    /** The layer list of {@code flexora_layers} ("0,3,5"), or null when empty (search). */
    static int[] parseLayers(String list) {
        if (list.isBlank()) {
            return null;
        }
        try {
            return Arrays.stream(list.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("flexora: flexora_layers must be layer numbers separated by commas, got '"
                    + list + "'");
        }
    }

    /** α̂ = L·softmax(α). */
    static void gates(float[] alpha, float[] out) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (float a : alpha) {
            max = Math.max(max, a);
        }
        for (int l = 0; l < alpha.length; l++) {
            out[l] = (float) Math.exp(alpha[l] - max);
            sum += out[l];
        }
        for (int l = 0; l < alpha.length; l++) {
            out[l] = (float) (alpha.length * out[l] / sum);
        }
    }

    /**
     * Chain rule through α̂ = L·softmax(α): dα_j = Σ_l dα̂_l·α̂_l·(δ_lj − α̂_j/L) = α̂_j·(dα̂_j − Σ_l α̂_l·dα̂_l / L);
     * overwrites {@code dAlpha}.
     */
    static void gatesBackward(float[] gates, float[] dGates, float[] dAlpha) {
        int L = gates.length;
        double mean = 0;
        for (int l = 0; l < L; l++) {
            mean += gates[l] * dGates[l];
        }
        mean /= L;
        for (int j = 0; j < L; j++) {
            dAlpha[j] = (float) (gates[j] * (dGates[j] - mean));
        }
    }

    private void updateGates() {
        gates(alpha, gates);
    }

    private boolean searching() {
        return selected == null;
    }

    /** The layer-selection hyper-parameters α (a copy). */
    public float[] alpha() {
        return alpha.clone();
    }

    /** The current gates α̂ = L·softmax(α) (a copy). */
    public float[] layerGates() {
        return gates.clone();
    }

    /** The selected layers (sorted), or null while the search runs. */
    public int[] selectedLayers() {
        if (selected == null) {
            return null;
        }
        return java.util.stream.IntStream.range(0, layers).filter(l -> selected[l]).toArray();
    }

    /**
     * ∂L_val/∂α over {@code valBatches} held-out batches starting at batch {@code first} (cycled), summed as the
     * reference's repeated {@code loss.backward()}; returns the summed loss. Also leaves gradients in the adapter
     * parameters, which the trainer zeroes before the next step.
     */
    double validationGradient(LlamaTrainGraph g, long first, float[] dAlpha) {
        List<Batch> batches = data.evalBatches(g.batchSize());
        Arrays.fill(gateGrads, 0f);
        g.setLayerGates(gates, gateGrads);
        double loss = 0;
        for (int k = 0; k < valBatches; k++) {
            long index = first + k;
            Batch b = batches.get((int) (index % batches.size()));
            loss += g.forwardBackward(b.inputs(), b.targets(), TrainableAdapterSet.mix(cfg.seed() ^ 0x466C65786F7261L,
                    index), 1f).loss();
        }
        g.setLayerGates(gates, null);
        gatesBackward(gates, gateGrads, dAlpha);
        return loss;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public void beforeStep(int step, int totalSteps) {
        if (searching() && step >= searchSteps) {
            select();
        }
    }

    /** Ends the search: layers with α_l &gt; 0 are selected, the adapters restart from their initial values. */
    private void select() {
        selected = new boolean[layers];
        for (int l = 0; l < layers; l++) {
            selected[l] = alpha[l] > 0;
        }
        adapters.load(initial);
        if (graph != null) {
            graph.setLayerGates(null, null);
        }
    }

    @Override
    public void beforeForward(LlamaTrainGraph g, int[] inputs, boolean training) {
        graph = g;
        g.setLayerGates(searching() ? gates : null, null);
    }

    @Override
    public boolean isActive(Parameter p) {
        if (searching()) {
            return true;
        }
        int l = Lisa.layerOf(p);
        return l < 0 || selected[l];
    }

    @Override
    public void afterStep(int step) {
        if (!searching() || graph == null) {
            return;
        }
        float[] dAlpha = alphaParam.grad();
        lastValLoss = validationGradient(graph, (long) step * valBatches, dAlpha) / valBatches;
        hyperOptimizer.step(List.of(alphaParam), lr, p -> 1);
        updateGates();
        graph.setLayerGates(gates, null);
    }

    /** Steps of the layer-selection stage. */
    int searchSteps() {
        return searchSteps;
    }

    @Override
    public Map<String, Object> metrics() {
        var m = new LinkedHashMap<String, Object>();
        if (searching()) {
            var g = new ArrayList<Double>();
            for (float v : gates) {
                g.add((double) v);
            }
            m.put("flexora_gates", g);
            if (Double.isFinite(lastValLoss)) {
                m.put("flexora_val_loss", lastValLoss);
            }
        } else {
            m.put("flexora_layers", Arrays.stream(selectedLayers()).boxed().toList());
        }
        return m;
    }

    @Override
    public Map<String, float[]> state() {
        var s = new LinkedHashMap<String, float[]>();
        s.put("alpha", alpha);
        hyperOptimizer.state().forEach((k, v) -> s.put("adam." + k, v));
        return s;
    }

    @Override
    public Map<String, String> meta() {
        var m = new LinkedHashMap<String, String>();
        m.put("adam_steps", Long.toString(hyperOptimizer.stepCount()));
        m.put("layers", selected == null ? "search" : String.join(",",
                Arrays.stream(selectedLayers()).mapToObj(Integer::toString).toList()));
        return m;
    }

    @Override
    public void load(Map<String, float[]> state, Map<String, String> meta) {
        float[] a = state.get("alpha");
        if (a == null || a.length != layers) {
            throw new IllegalArgumentException("flexora checkpoint: 'alpha' is missing or not of " + layers + " layers");
        }
        System.arraycopy(a, 0, alpha, 0, layers);
        var adam = new LinkedHashMap<String, float[]>();
        state.forEach((k, v) -> {
            if (k.startsWith("adam.")) {
                adam.put(k.substring("adam.".length()), v);
            }
        });
        hyperOptimizer.load(adam, Long.parseLong(meta.getOrDefault("adam_steps", "0")));
        updateGates();
        String list = meta.getOrDefault("layers", "search");
        if (!list.equals("search")) {
            selected = new boolean[layers];
            for (int l : Lisa.checkpointedLayers(NAME, meta, layers)) {
                selected[l] = true;
            }
        }
    }
}
