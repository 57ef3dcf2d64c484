package dev.jlora.engine.adapter;

import dev.jlora.engine.data.Batch;
import dev.jlora.engine.linalg.IncrementalPca;
import dev.jlora.engine.model.LlamaWeights;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * EVA (Paischer, Hauzenberger, Schmied, Alkin, Deisenroth and Hochreiter 2024, "One Initialization to Rule them All:
 * Fine-tuning via Explained Variance Adaptation", arXiv:2410.07170, §3 and Algorithm 1): A of every adapted layer
 * starts as the top right-singular vectors of that layer's input activations (B = 0, so the model is unchanged), and
 * the ranks are redistributed across layers by explained variance under the budget r × (number of adapted layers).
 *
 * <p>Followed step by step as PEFT's {@code get_eva_state_dict} (the authors' reference implementation, merged into
 * PEFT) does: (1) one forward pass hashes each layer's input, and layers that receive the same input (q/k/v, gate/up)
 * share one SVD; (2) every minibatch is folded into an {@link IncrementalPca} of round(r·rho) components per layer,
 * on the positions whose target counts in the loss (PEFT's {@code use_label_mask}); a component has converged when its
 * cosine similarity with the previous minibatch's is ≥ tau, and a layer stops once every component its current rank
 * needs has converged; (3) after each minibatch, all layers' explained-variance ratios are sorted together and the
 * budget goes to the largest ones, at most round(r·rho) per layer, possibly 0 (that layer gets no adapter).
 * {@code whiten} divides each component by the square root of its singular value; {@code adjust_scaling_factors}
 * sets alpha_l = alpha·r_l / r so that alpha_l / r_l stays alpha / r. PEFT cycles its data loader until everything
 * has converged; here at most {@code init_batches} minibatches are drawn and {@link Result#unconverged} says how many
 * layers had not converged by then (they still get their current components).
 */
public final class EvaInit {
    private EvaInit() {}

    /** Method-arg keys and defaults (PEFT's {@code EvaConfig} names and defaults; init_batches is jlora's bound). */
    public static final Map<String, String> KEYS = Map.of("rho", "2.0", "tau", "0.99", "whiten", "false",
            "adjust_scaling_factors", "false", "init_batches", "64");

    /**
     * @param rank       r, the mean rank: the budget is r × number of adapted layers
     * @param rho        a layer gets at most round(r·rho) components (≥ 1)
     * @param tau        cosine-similarity threshold for convergence of a component
     * @param maxBatches at most this many minibatches are drawn
     */
    public record Config(int rank, float rho, float tau, boolean whiten, int maxBatches) {
        public Config {
            if (rank <= 0) {
                throw new IllegalArgumentException("EVA: rank must be positive, got " + rank);
            }
            if (!(rho >= 1) || Float.isInfinite(rho)) {
                throw new IllegalArgumentException("EVA: rho must be a finite number ≥ 1, got " + rho);
            }
            if (!(tau > 0 && tau <= 1)) {
                throw new IllegalArgumentException("EVA: tau must be in (0, 1], got " + tau);
            }
            if (maxBatches <= 0) {
                throw new IllegalArgumentException("EVA: init_batches must be positive, got " + maxBatches);
            }
        }

        static Config of(HyperParams p, int rank) {
            return new Config(rank, p.real("rho", 2f), p.real("tau", 0.99f), p.bool("whiten"),
                    p.integer("init_batches", 64));
        }
    }

    /**
     * What EVA found.
     *
     * @param ranks       the rank of every adapted layer (0: no adapter), summing to the budget
     * @param a           A [rank × IC] of every layer with rank &gt; 0
     * @param batches     minibatches folded in
     * @param unconverged layers whose needed components had not all converged when the batches ran out
     */
    public record Result(Map<InitProbe.Site, Integer> ranks, Map<InitProbe.Site, float[]> a, int batches,
                         int unconverged) {}

    /** One shared SVD: the layers with the same input and their PCA. */
    private static final class Group {
        final List<InitProbe.Site> sites = new ArrayList<>();
        final IncrementalPca pca;
        final boolean[] converged;
        final int IC;
        boolean active = true;

        Group(int components, int IC, SplittableRandom rnd) {
            this.pca = new IncrementalPca(components, IC, rnd);
            this.converged = new boolean[components];
            this.IC = IC;
        }
    }

    /** Runs EVA on {@code targets} of every block of {@code weights} over minibatches of {@code data}. */
    public static Result compute(LlamaWeights weights, Set<Target> targets, Config cfg, InitData data, long seed) {
        var sites = new ArrayList<InitProbe.Site>();
        var inFeatures = new HashMap<InitProbe.Site, Integer>();
        for (int l = 0; l < weights.layers().size(); l++) {
            for (Target t : Target.values()) {
                if (targets.contains(t)) {
                    var s = new InitProbe.Site(l, t);
                    sites.add(s);
                    inFeatures.put(s, TrainableAdapterSet.baseWeight(weights.layers().get(l), t).cols());
                }
            }
        }
        int budget = cfg.rank() * sites.size();
        var maxComponents = new HashMap<InitProbe.Site, Integer>();
        for (var s : sites) {
            maxComponents.put(s, Math.min(Math.round(cfg.rank() * cfg.rho()), inFeatures.get(s)));
        }

        // (1) Layers that see the same input share one SVD (PEFT's HashHook on the first batch).
        var hashes = new HashMap<InitProbe.Site, Integer>();
        data.forward(data.batch(0), probes(weights, targets, site -> (x, T) ->
                hashes.put(site, Arrays.hashCode(Arrays.copyOf(x, T * inFeatures.get(site))))));
        var groupOf = new LinkedHashMap<InitProbe.Site, Group>();
        var byHash = new HashMap<List<Integer>, Group>();
        var rnd = new SplittableRandom(seed);
        for (var s : sites) {
            Integer h = hashes.get(s);
            if (h == null) {
                throw new IllegalStateException("EVA: layer " + s.layer() + " " + s.target().hfName()
                        + " saw no input in the forward pass");
            }
            Group g = byHash.computeIfAbsent(List.of(h, inFeatures.get(s)),
                    k -> new Group(maxComponents.get(s), inFeatures.get(s), rnd.split()));
            g.sites.add(s);
            groupOf.put(s, g);
        }
        var groups = new ArrayList<>(new java.util.LinkedHashSet<>(groupOf.values()));

        // (2) Incremental SVD per group until the components each layer's rank needs have converged.
        var ranks = new LinkedHashMap<InitProbe.Site, Integer>(maxComponents);
        int[][] rowsHolder = {new int[0]};              // the current batch's counted rows, read by the probes
        var probeSet = probes(weights, targets, site -> {
            Group g = groupOf.get(site);
            if (!g.sites.getFirst().equals(site)) {
                return null;                                  // the group's first layer does the SVD
            }
            return (x, T) -> {
                if (g.active) {
                    fold(g, x, rowsHolder[0], cfg.tau());
                }
            };
        });
        int used = 0;
        for (int i = 0; i < cfg.maxBatches(); i++) {
            boolean any = false;
            for (Group g : groups) {
                g.active = !converged(g, needed(g, ranks));
                any |= g.active;
            }
            if (!any) {
                break;
            }
            Batch batch = data.batch(i);
            rowsHolder[0] = countedRows(batch);
            if (rowsHolder[0].length < maxComponents.values().stream().mapToInt(Integer::intValue).max().orElse(1)) {
                continue;                                     // PEFT skips the SVD of a batch with fewer rows
            }
            data.forward(batch, probeSet);
            used++;
            if (groups.stream().allMatch(g -> g.pca.fitted())) {
                ranks = distribute(sites, groupOf, maxComponents, budget);
            }
        }
        if (groups.stream().anyMatch(g -> !g.pca.fitted())) {
            throw new IllegalArgumentException("EVA: no minibatch had at least " + java.util.Collections.max(maxComponents.values())
                    + " positions with a target; use longer sequences or a larger batch");
        }

        // (3) A from the converged components.
        var a = new LinkedHashMap<InitProbe.Site, float[]>();
        int unconverged = 0;
        for (var s : sites) {
            int r = ranks.get(s);
            Group g = groupOf.get(s);
            if (!converged(g, r)) {
                unconverged++;
            }
            if (r == 0) {
                continue;
            }
            double[] comp = g.pca.components(), sv = g.pca.singularValues();
            float[] out = new float[r * g.IC];
            for (int c = 0; c < r; c++) {
                double div = cfg.whiten() ? Math.sqrt(sv[c]) : 1;
                for (int j = 0; j < g.IC; j++) {
                    out[c * g.IC + j] = (float) (comp[c * g.IC + j] / div);
                }
            }
            a.put(s, out);
        }
        return new Result(ranks, a, used, unconverged);
    }

    /** LoRA with A from {@code eva}, B = 0, and rank (and, if {@code adjustScaling}, alpha) per layer. */
    public static ResidualAdapterFactory factory(Result eva, LoraConfig cfg, boolean adjustScaling) {
        return (layer, target, base, rnd) -> {
            var site = new InitProbe.Site(layer, target);
            Integer r = eva.ranks().get(site);
            if (r == null) {
                throw new IllegalArgumentException("EVA computed no rank for layer " + layer + " " + target.hfName());
            }
            if (r == 0) {
                return new ResidualAdapterFactory.Created(null, null);
            }
            float alpha = adjustScaling ? cfg.alpha() * r / cfg.rank() : cfg.alpha();
            var lora = new LoraAdapter(base.cols(), base.rows(), r, alpha, cfg.dropout(), cfg.rsLora());
            System.arraycopy(eva.a().get(site), 0, lora.loraA().value(), 0, r * base.cols());
            return new ResidualAdapterFactory.Created(lora, null);
        };
    }

    private static TrainableAdapterSet probes(LlamaWeights weights, Set<Target> targets,
                                              java.util.function.Function<InitProbe.Site, InitProbe.InputSink> sinks) {
        return TrainableAdapterSet.create(weights, targets, (layer, target, base, rnd) ->
                new InitProbe(base.cols(), base.rows(), sinks.apply(new InitProbe.Site(layer, target)), null), 0);
    }

    /** Row indices b·T + t whose target counts (jlora's targets are already shifted: position t predicts t + 1). */
    private static int[] countedRows(Batch batch) {
        int[] tg = batch.targets();
        int n = 0;
        for (int v : tg) {
            n += v >= 0 ? 1 : 0;
        }
        int[] out = new int[n];
        for (int i = 0, k = 0; i < tg.length; i++) {
            if (tg[i] >= 0) {
                out[k++] = i;
            }
        }
        return out;
    }

    /** Folds the selected rows of x into the group's PCA and updates which components have converged. */
    private static void fold(Group g, float[] x, int[] rows, float tau) {
        int IC = g.IC;
        double[] sel = new double[rows.length * IC];
        for (int k = 0; k < rows.length; k++) {
            for (int j = 0; j < IC; j++) {
                sel[k * IC + j] = x[rows[k] * IC + j];
            }
        }
        double[] previous = g.pca.fitted() ? g.pca.components() : null;
        g.pca.partialFit(sel, rows.length);
        if (previous == null) {
            return;
        }
        double[] now = g.pca.components();
        for (int c = 0; c < g.converged.length; c++) {
            double dot = 0, n1 = 0, n2 = 0;
            for (int j = 0; j < IC; j++) {
                double u = now[c * IC + j], v = previous[c * IC + j];
                dot += u * v;
                n1 += u * u;
                n2 += v * v;
            }
            g.converged[c] = dot / Math.sqrt(n1 * n2) >= tau;
        }
    }

    /** The most components any layer of the group currently needs. */
    private static int needed(Group g, Map<InitProbe.Site, Integer> ranks) {
        int n = 0;
        for (var s : g.sites) {
            n = Math.max(n, ranks.get(s));
        }
        return n;
    }

    private static boolean converged(Group g, int components) {
        if (!g.pca.fitted() && components > 0) {
            return false;
        }
        for (int c = 0; c < components; c++) {
            if (!g.converged[c]) {
                return false;
            }
        }
        return true;
    }

    /**
     * The budget over all layers' explained-variance ratios (each layer its group's, at most its maxComponents),
     * largest first; ties go to the earlier layer and component, so the result is deterministic.
     */
    static LinkedHashMap<InitProbe.Site, Integer> distribute(List<InitProbe.Site> sites,
                                                              Map<InitProbe.Site, Group> groupOf,
                                                              Map<InitProbe.Site, Integer> maxComponents, int budget) {
        record Entry(double ratio, int site, int component) {}
        var entries = new ArrayList<Entry>();
        for (int i = 0; i < sites.size(); i++) {
            double[] ratios = groupOf.get(sites.get(i)).pca.explainedVarianceRatio();
            for (int c = 0; c < maxComponents.get(sites.get(i)); c++) {
                entries.add(new Entry(ratios[c], i, c));
            }
        }
        entries.sort(Comparator.comparingDouble(Entry::ratio).reversed()
                .thenComparingInt(Entry::site).thenComparingInt(Entry::component));
        int[] counts = new int[sites.size()];
        for (int k = 0; k < Math.min(budget, entries.size()); k++) {
            counts[entries.get(k).site()]++;
        }
        var out = new LinkedHashMap<InitProbe.Site, Integer>();
        for (int i = 0; i < sites.size(); i++) {
            out.put(sites.get(i), counts[i]);
        }
        return out;
    }
}
