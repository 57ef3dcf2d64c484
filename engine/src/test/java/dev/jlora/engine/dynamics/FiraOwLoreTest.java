package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.linalg.Svd;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.ref.F32Matrix;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.train.TrainListener;
import dev.jlora.engine.train.Trainer;
import dev.jlora.engine.train.TrainingHook;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Fira and OwLore: the low-rank projected updates of full weights. */
class FiraOwLoreTest {
    @TempDir
    Path dir;

    static TrainableAdapterSet fullOnly(LlamaModel m) {
        return AdapterMethods.create("full", "kaiming", Map.of(), m.weights(), EnumSet.of(Target.Q, Target.DOWN), 1, null)
                .adapters();
    }

    /** Singular values of the change of p between two snapshots. */
    static double[] stepSpectrum(Parameter p, float[] before, float[] after) {
        double[] d = new double[before.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = (double) after[i] - before[i];
        }
        return Svd.jacobi(d, p.shape()[0], p.shape()[1]).s();
    }

    private static List<List<float[]>> run(LlamaModel m, TrainableAdapterSet a, TrainConfig cfg, String dyn,
                                           Map<String, String> args, Path out, List<TrainingHook> got) throws IOException {
        var data = TinyTraining.data(cfg.seqLen());
        var hooks = TrainingMethods.create(List.of(dyn), args, new TrainingMethods.Context(m, a, data, cfg));
        got.addAll(hooks);
        var snaps = new ArrayList<List<float[]>>();
        snaps.add(a.parameters().stream().map(p -> p.value().clone()).toList());
        new Trainer(m, a, data, cfg, out, hooks).train(new TrainListener() {
            @Override public void onStep(Step s) {
                snaps.add(a.parameters().stream().map(p -> p.value().clone()).toList());
            }
        });
        return snaps;
    }

    /**
     * Fira's step is full-rank (the scaled residual restores what the projection drops) while its optimizer state
     * is rank r; the first step equals the reference's (fira_adamw.py) −lr·c·(P·ψ(R) + φ⊙(G − P·R)) recomputed here
     * from G's SVD, with ψ(R) = m/(√v + ε) = (1−β₁)R/(√(1−β₂)|R| + ε) (moments without bias correction),
     * φ = ‖ψ(R)‖/‖R‖ and the bias correction c = √(1−β₂)/(1−β₁) on the whole step; the residual's norm never grows
     * faster than 1.01× per step (limiter).
     */
    @Test
    void firaUpdatesAreFullRankWithLowRankStateAndLimitedGrowth() throws IOException {
        var m = TinyTraining.model();
        var a = fullOnly(m);
        var cfg = TinyTraining.config().steps(4).evalEvery(0).warmupSteps(0).build();
        var hooks = new ArrayList<TrainingHook>();
        // capture the gradient of the first step: it is still in the parameters when the first onStep fires
        var grads = new ArrayList<double[]>();
        var data = TinyTraining.data(cfg.seqLen());
        var fira = TrainingMethods.create(List.of("fira"), Map.of("fira_rank", "2", "fira_update_gap", "10"),
                new TrainingMethods.Context(m, a, data, cfg));
        hooks.addAll(fira);
        var snaps = new ArrayList<List<float[]>>();
        var norms = new ArrayList<Double>();
        snaps.add(a.parameters().stream().map(p -> p.value().clone()).toList());
        new Trainer(m, a, data, cfg, dir, hooks).train(new TrainListener() {
            @Override public void onStep(Step s) {
                snaps.add(a.parameters().stream().map(p -> p.value().clone()).toList());
                if (s.step() == 1) {
                    Parameter p = a.parameters().getFirst();
                    double[] g = new double[p.size()];
                    for (int i = 0; i < g.length; i++) {
                        g[i] = p.grad()[i];
                    }
                    grads.add(g);
                }
                norms.add((double) fira.getFirst().state().get(a.parameters().getFirst().name() + ".residual_norm")[0]);
            }
        });
        Parameter q = a.parameters().getFirst();
        int rows = q.shape()[0], cols = q.shape()[1];
        double[] s = stepSpectrum(q, snaps.get(0).getFirst(), snaps.get(1).getFirst());
        assertTrue(s[2] > 1e-3 * s[0], "Fira's step has rank > 2 = fira_rank: σ = " + java.util.Arrays.toString(s));

        // expected first step from the gradient's own SVD (sign-invariant: P·ψ(Pᵀ·G) does not depend on signs)
        double[] g = grads.getFirst();
        Svd svd = Svd.jacobi(g, rows, cols).truncate(2);
        boolean right = rows >= cols;
        double lr = cfg.lrSchedule().lr(0), eps = cfg.eps(), b1 = cfg.beta1(), b2 = cfg.beta2();
        double c = Math.sqrt(1 - b2) / (1 - b1);
        double[] want = new double[rows * cols];
        int n = right ? rows : cols;                       // the kept dimension
        double[][] rLow = new double[n][2];
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < 2; k++) {
                double acc = 0;
                for (int j = 0; j < (right ? cols : rows); j++) {
                    acc += right ? g[i * cols + j] * svd.vt()[k * cols + j] : svd.u()[j * svd.k() + k] * g[j * cols + i];
                }
                rLow[i][k] = acc;
            }
        }
        for (int i = 0; i < n; i++) {
            double num = 0, den = 0;
            double[] psi = new double[2];
            for (int k = 0; k < 2; k++) {
                psi[k] = (1 - b1) * rLow[i][k] / (Math.sqrt(1 - b2) * Math.abs(rLow[i][k]) + eps);
                num += psi[k] * psi[k];
                den += rLow[i][k] * rLow[i][k];
            }
            double phi = Math.sqrt(num) / (Math.sqrt(den) + 1e-8);
            for (int j = 0; j < (right ? cols : rows); j++) {
                double low = 0, dirv = 0;
                for (int k = 0; k < 2; k++) {
                    double basis = right ? svd.vt()[k * cols + j] : svd.u()[j * svd.k() + k];
                    low += rLow[i][k] * basis;
                    dirv += psi[k] * basis;
                }
                int e = right ? i * cols + j : j * cols + i;
                want[e] = -lr * c * (dirv + phi * (g[e] - low));
            }
        }
        for (int e = 0; e < want.length; e++) {
            // float32 gradient and values, float64 recomputation: 1e-7 absolute + 1e-3 relative of an O(lr) step
            assertEquals(want[e], snaps.get(1).getFirst()[e] - snaps.get(0).getFirst()[e], 1e-7 + 1e-3 * Math.abs(want[e]),
                    "first step [" + e + "]");
        }
        for (int i = 1; i < norms.size(); i++) {
            assertTrue(norms.get(i) <= Fira.LIMIT_GROWTH * norms.get(i - 1) * (1 + 1e-6), "limiter at step " + i + ": " + norms);
        }
        var e = assertThrows(IllegalArgumentException.class, () -> TrainingMethods.create(List.of("fira"), Map.of(),
                new TrainingMethods.Context(m, TrainableAdapterSet.lora(m.weights(), TinyTraining.LORA, 1), data, cfg)));
        assertTrue(e.getMessage().contains("--method full"), e.getMessage());
    }

    @Test
    void firaResumesExactly() throws IOException {
        var m = TinyTraining.model();
        ResumeCheck.resumesExactly(m, () -> fullOnly(m), TinyTraining.config().steps(4).build(), "fira",
                Map.of("fira_rank", "2", "fira_update_gap", "3"), dir);
    }

    /** The tiny model with layer 1's weights given a few large entries in heavily used input columns. */
    static LlamaModel withOutliersInLayer1() {
        var m = TinyTraining.model();
        var w = m.weights();
        var layers = new ArrayList<LlamaWeights.Layer>(w.layers());
        var l1 = layers.get(1);
        var wq = l1.wq();
        float[] dense = new float[wq.rows() * wq.cols()];
        for (int o = 0; o < wq.rows(); o++) {
            wq.dequantizeRow(o, dense, o * wq.cols());
        }
        for (int o = 0; o < wq.rows(); o += 2) {
            dense[o * wq.cols() + o % wq.cols()] *= 60;
        }
        layers.set(1, new LlamaWeights.Layer(l1.attnNorm(), new F32Matrix(wq.rows(), wq.cols(), dense), l1.wk(), l1.wv(),
                l1.wo(), l1.bq(), l1.bk(), l1.bv(), l1.ffnNorm(), l1.wGate(), l1.wUp(), l1.wDown()));
        return new LlamaModel(m.config(), new LlamaWeights(w.tokenEmbedding(), layers, w.finalNorm(), w.output()),
                m.tokenizer());
    }

    /**
     * Layers with more outliers are sampled more often (p_l = D_l / ΣD), and a sampled layer's full weight moves by
     * GaLore steps: rank ≤ owlore_rank; unsampled layers do not move.
     */
    @Test
    void owloreSamplesOutlierLayersMoreAndStepsInLowRank() throws IOException {
        var m = withOutliersInLayer1();
        var a = LisaTest.full(m);
        var cfg = TinyTraining.config().steps(4).evalEvery(0).warmupSteps(0).build();
        var hooks = new ArrayList<TrainingHook>();
        var snaps = run(m, a, cfg, "owlore", Map.of("owlore_activated_layers", "1", "owlore_interval_steps", "2",
                "owlore_rank", "2", "owlore_calibration_batches", "2"), dir, hooks);
        var owlore = (OwLore) hooks.getFirst();
        double[] p = owlore.probabilities();
        assertEquals(1, p[0] + p[1], 1e-12);
        assertTrue(p[1] > p[0], "the layer with planted outliers is favoured: " + java.util.Arrays.toString(p));
        int[] counts = new int[2];
        for (int period = 0; period < 4000; period++) {
            counts[Lisa.sample(7, period, p, 1)[0]]++;
        }
        // binomial(4000, p₁): 5 sd ≤ 160
        assertEquals(4000 * p[1], counts[1], 160, "sampling frequency follows p");

        List<Parameter> ps = a.parameters();
        for (int step = 0; step < 4; step++) {
            int layer = Lisa.sample(cfg.seed(), step / 2, p, 1)[0];
            for (int i = 0; i < ps.size(); i++) {
                Parameter par = ps.get(i);
                int l = Lisa.layerOf(par);
                boolean changed = !java.util.Arrays.equals(snaps.get(step).get(i), snaps.get(step + 1).get(i));
                assertEquals(l < 0 || l == layer, changed, "step " + step + " " + par.name());
                if (l == layer && par.name().endsWith("delta_weight")) {
                    double[] s = stepSpectrum(par, snaps.get(step).get(i), snaps.get(step + 1).get(i));
                    assertTrue(s[2] < 1e-4 * s[0], par.name() + ": a GaLore step has rank ≤ 2: " + java.util.Arrays.toString(s));
                }
            }
        }
    }

    @Test
    void owloreResumesExactly() throws IOException {
        var m = TinyTraining.model();
        ResumeCheck.resumesExactly(m, () -> LisaTest.full(m), TinyTraining.config().steps(4).build(), "owlore",
                Map.of("owlore_activated_layers", "1", "owlore_interval_steps", "1", "owlore_rank", "2",
                        "owlore_calibration_batches", "1"), dir);
    }
}
