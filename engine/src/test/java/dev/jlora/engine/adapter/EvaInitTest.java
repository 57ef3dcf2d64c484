package dev.jlora.engine.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.data.Batch;
import dev.jlora.engine.linalg.Qr;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.engine.train.InitBatches;
import dev.jlora.engine.train.LlamaTrainGraph;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** EVA's defining properties: A spans the top principal directions of each layer's inputs; ranks follow explained variance under the budget. */
class EvaInitTest {
    @TempDir
    Path dir;

    /** Activations with a known spectrum: x = μ + Σ_c z_c·√λ_c·q_c, q_c orthonormal, λ_c = q^c, per (layer, target). */
    static final class Synthetic implements InitData {
        final Map<InitProbe.Site, double[]> basis = new HashMap<>();     // [IC × IC], column c = q_c
        final Map<InitProbe.Site, double[]> lambda = new HashMap<>();
        final Map<InitProbe.Site, InitProbe.Site> sameInputAs = new HashMap<>();
        final Map<InitProbe.Site, Integer> ic = new HashMap<>();
        final int T;

        Synthetic(int T) {
            this.T = T;
        }

        void site(InitProbe.Site s, int IC, double decay, long seed) {
            var rnd = new SplittableRandom(seed);
            double[] g = new double[IC * IC];
            for (int i = 0; i < g.length; i++) {
                g[i] = rnd.nextDouble() * 2 - 1;
            }
            basis.put(s, Qr.householder(g, IC, IC).q());
            double[] l = new double[IC];
            for (int c = 0; c < IC; c++) {
                l[c] = Math.pow(decay, c);
            }
            lambda.put(s, l);
            ic.put(s, IC);
        }

        /** True explained-variance ratios λ_c / Σλ. */
        double[] ratios(InitProbe.Site s) {
            double[] l = lambda.get(sameInputAs.getOrDefault(s, s));
            double sum = Arrays.stream(l).sum();
            return Arrays.stream(l).map(v -> v / sum).toArray();
        }

        @Override
        public Batch batch(int i) {
            int[] tg = new int[T];
            return new Batch(new int[T], tg, 1, T, T);
        }

        int calls;

        @Override
        public void forward(Batch batch, AdapterSet probes) {
            var xs = new HashMap<InitProbe.Site, float[]>();
            long call = calls++;
            for (var s : basis.keySet()) {
                int IC = ic.get(s);
                var rnd = new SplittableRandom(call * 1000 + s.layer() * 16 + s.target().ordinal());
                double[] q = basis.get(s), l = lambda.get(s);
                float[] x = new float[T * IC];
                for (int t = 0; t < T; t++) {
                    for (int c = 0; c < IC; c++) {
                        double z = PissaInit.gaussian(rnd) * Math.sqrt(l[c]);
                        for (int j = 0; j < IC; j++) {
                            x[t * IC + j] += (float) (z * q[j * IC + c]);
                        }
                    }
                    for (int j = 0; j < IC; j++) {
                        x[t * IC + j] += 3f;                     // a mean EVA must not mistake for a direction
                    }
                }
                xs.put(s, x);
            }
            sameInputAs.forEach((s, from) -> xs.put(s, xs.get(from)));
            for (var e : xs.entrySet()) {
                probes.get(e.getKey().layer(), e.getKey().target()).forward(e.getValue(), T, new float[0]);
            }
        }

        @Override
        public void forwardBackward(Batch batch, AdapterSet probes, float gradScale) {
            throw new UnsupportedOperationException("EVA runs forward passes only");
        }
    }

    /** The budget over the true ratios, by the rule EVA applies to the estimated ones. */
    static Map<InitProbe.Site, Integer> expectedRanks(List<InitProbe.Site> sites, Synthetic data, int maxComp, int budget) {
        record E(double v, int site, int c) {}
        var all = new ArrayList<E>();
        for (int i = 0; i < sites.size(); i++) {
            double[] r = data.ratios(sites.get(i));
            for (int c = 0; c < maxComp; c++) {
                all.add(new E(r[c], i, c));
            }
        }
        all.sort((a, b) -> a.v() != b.v() ? Double.compare(b.v(), a.v())
                : a.site() != b.site() ? Integer.compare(a.site(), b.site()) : Integer.compare(a.c(), b.c()));
        // a test that hinges on sampling noise at the cut-off would be meaningless
        assertTrue(all.get(budget - 1).v() > 1.15 * all.get(budget).v() || all.get(budget - 1).v() == all.get(budget).v(),
                "the true ratios need a gap at the budget: " + all.get(budget - 1) + " vs " + all.get(budget));
        var out = new LinkedHashMap<InitProbe.Site, Integer>();
        sites.forEach(s -> out.put(s, 0));
        for (int k = 0; k < budget; k++) {
            out.merge(sites.get(all.get(k).site()), 1, Integer::sum);
        }
        return out;
    }

    @Test
    void aSpansTheTopPrincipalDirectionsAndRanksFollowExplainedVariance() {
        LlamaWeights w = TinyTraining.model().weights();   // dim 16, hidden 24, 2 layers
        Set<Target> targets = EnumSet.of(Target.Q, Target.K, Target.DOWN);
        int r = 3;
        var data = new Synthetic(400);
        double[] decays = {0.3, 0.6, 0.75, 0.45};
        var sites = new ArrayList<InitProbe.Site>();
        int k = 0;
        for (int l = 0; l < 2; l++) {
            for (Target t : targets) {
                var s = new InitProbe.Site(l, t);
                sites.add(s);
                if (t == Target.K) {
                    data.sameInputAs.put(s, new InitProbe.Site(l, Target.Q));   // q/k/v share their input
                } else {
                    data.site(s, TrainableAdapterSet.baseWeight(w.layers().get(l), t).cols(), decays[k++], 11L * k);
                }
            }
        }
        var eva = EvaInit.compute(w, targets, new EvaInit.Config(r, 2f, 0.99f, false, 60), data, 5);
        int budget = r * sites.size();
        assertEquals(budget, eva.ranks().values().stream().mapToInt(Integer::intValue).sum(), "ranks sum to r × layers");
        assertEquals(0, eva.unconverged(), "all needed components converged within 60 batches of 400 rows");
        assertEquals(expectedRanks(sites, data, 2 * r, budget), eva.ranks(), "ranks by explained variance");
        assertTrue(eva.ranks().values().stream().anyMatch(v -> v != r), "the spectra differ, so the ranks must move");

        for (var s : sites) {
            int rank = eva.ranks().get(s);
            var src = data.sameInputAs.getOrDefault(s, s);
            int IC = data.ic.get(src);
            double[] q = data.basis.get(src);
            float[] a = eva.a().get(s);
            if (rank == 0) {
                assertNull(a, s + " has rank 0");
                continue;
            }
            for (int c = 0; c < rank; c++) {
                double dot = 0, norm = 0;
                for (int j = 0; j < IC; j++) {
                    dot += a[c * IC + j] * q[j * IC + c];
                    norm += (double) a[c * IC + j] * a[c * IC + j];
                }
                // Sampling error of an eigenvector with eigengap ≥ 25 % over ≥ 2,000 rows is ≲ 0.1 rad: |cos| ≥ 0.98.
                assertEquals(1, Math.sqrt(norm), 1e-5, s + " component " + c + " is unit length (whiten=false)");
                assertTrue(Math.abs(dot) >= 0.98, s + " component " + c + ": |cos| to the true direction " + dot);
            }
        }
        float[] kA = eva.a().get(new InitProbe.Site(0, Target.K)), qA = eva.a().get(new InitProbe.Site(0, Target.Q));
        if (kA != null && qA != null) {
            int n = Math.min(kA.length, qA.length);
            assertArrayEquals(Arrays.copyOf(qA, n), Arrays.copyOf(kA, n), 0f, "layers with the same input share one SVD");
        }
    }

    @Test
    void whiteningDividesByTheRootOfTheSingularValues() {
        LlamaWeights w = TinyTraining.model().weights();
        Set<Target> targets = EnumSet.of(Target.DOWN);
        var data = new Synthetic(300);
        for (int l = 0; l < 2; l++) {
            data.site(new InitProbe.Site(l, Target.DOWN), 24, 0.5, 3 + l);
        }
        var plain = EvaInit.compute(w, targets, new EvaInit.Config(2, 1f, 0.9f, false, 20), data, 1);
        data.calls = 0;
        var white = EvaInit.compute(w, targets, new EvaInit.Config(2, 1f, 0.9f, true, 20), data, 1);
        assertEquals(plain.ranks(), white.ranks());
        float[] p = plain.a().get(new InitProbe.Site(0, Target.DOWN)), q = white.a().get(new InitProbe.Site(0, Target.DOWN));
        // Same data, same components: row c of the whitened A is row c / √σ_c, so the ratio is constant per row.
        for (int c = 0; c < 2; c++) {
            double ratio = p[c * 24] / q[c * 24];
            for (int j = 1; j < 24; j++) {
                assertEquals(ratio, p[c * 24 + j] / q[c * 24 + j], 1e-3 * Math.abs(ratio), "row " + c);
            }
            assertTrue(ratio > 1, "σ_c > 1 for these activations, so whitening shrinks the row: " + ratio);
        }
    }

    @Test
    void onATinyModelTheOutputIsUnchangedAndTheFileRoundTrips() throws Exception {
        LlamaModel m = TinyTraining.model();
        var ds = TinyTraining.data(24);
        var targets = EnumSet.of(Target.Q, Target.V, Target.DOWN);
        var values = Map.of("rank", "2", "alpha", "8", "rho", "2", "tau", "0.9", "adjust_scaling_factors", "true",
                "init_batches", "6");
        var adapted = AdapterMethods.create("lora", "eva", values, m.weights(), targets, 3, null,
                new InitBatches(m, ds, 2, 7));
        var set = adapted.adapters();
        int sum = 0;
        for (var a : set.adapters()) {
            var lora = (LoraAdapter) a;
            sum += lora.rank();
            // adjust_scaling_factors: alpha_l / r_l = alpha / r
            assertEquals(8f / 2, lora.scale(), 1e-6f, "scale alpha_l / r_l");
            for (float b : lora.loraB().value()) {
                assertEquals(0f, b, "EVA starts with B = 0");
            }
        }
        assertEquals(2 * 2 * targets.size(), sum, "ranks sum to r × adapted layers");

        int[] in = ds.train().getFirst().tokens();
        int[] inputs = Arrays.copyOf(in, 24);
        float[] base = new LlamaTrainGraph(m.config(), m.weights(), (l, t) -> null, 1, 24, false).logits(inputs);
        float[] with = new LlamaTrainGraph(m.config(), m.weights(), set, 1, 24, false).logits(inputs);
        // B = 0 adds exact zeros; the two graph runs may still differ in the last bit where the Vector API kernels
        // are compiled differently between runs (LlamaTrainGraph's note on JIT tiers): 1e-6 relative.
        dev.jlora.simd.testing.Approx.assertClose(base, with, 1e-6, 1e-6, () -> "B = 0: the model is unchanged at step 0");

        for (var p : set.parameters()) {          // give the adapters a nonzero Δ to compare after loading
            for (int i = 0; i < p.value().length; i++) {
                p.value()[i] += 0.01f * ((i % 7) - 3);
            }
        }
        Path file = dir.resolve("eva.jlora");
        AdapterFile.save(file, set, Map.of("init", "eva"));
        var meta = AdapterFile.readMeta(file);
        var loaded = AdapterFile.load(file, m.weights());
        assertEquals(set.shapes().keySet(), loaded.shapes().keySet());
        for (var e : set.state().entrySet()) {
            assertArrayEquals(e.getValue(), loaded.state().get(e.getKey()), 0f, e.getKey());
        }
        boolean uneven = set.adapters().stream().map(a -> a.config().get("rank")).distinct().count() > 1
                || set.adapters().size() < 2 * targets.size();
        assertEquals(uneven, meta.containsKey(RankPattern.RANK_KEY), "rank_pattern is written when ranks differ: " + meta);
        float[] a1 = new LlamaTrainGraph(m.config(), m.weights(), set, 1, 24, false).logits(inputs);
        float[] a2 = new LlamaTrainGraph(m.config(), m.weights(), loaded, 1, 24, false).logits(inputs);
        dev.jlora.simd.testing.Approx.assertClose(a1, a2, 1e-6, 1e-6, () -> "the loaded adapters give the same logits");
    }

    @Test
    void rankPatternRoundTripsThroughMetadata() {
        var p = new RankPattern(Map.of("layers.0.q_proj", 0, "layers.1.down_proj", 5), Map.of("layers.1.down_proj", 10f));
        var back = RankPattern.parse(p.meta());
        assertEquals(p, back);
        assertEquals(0, back.rank(0, Target.Q, 8));
        assertEquals(8, back.rank(1, Target.Q, 8));
        assertEquals(10f, back.alpha(1, Target.DOWN, 16f));
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> RankPattern.parse(Map.of(RankPattern.RANK_KEY, "layers.0.q_proj:x")));
        assertTrue(e.getMessage().contains("rank_pattern"), e.getMessage());
    }
}
