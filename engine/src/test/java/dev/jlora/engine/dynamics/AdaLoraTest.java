package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.RankMaskedAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.train.Trainer;
import dev.jlora.engine.train.TrainingHook;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AdaLoraTest {
    @TempDir
    Path dir;

    static final Map<String, String> ARGS = Map.of("rank", "4", "alpha", "8", "dropout", "0", "target_r", "2",
            "tinit", "1", "tfinal", "2", "deltaT", "1");

    static TrainableAdapterSet adapters(dev.jlora.engine.model.LlamaModel m) {
        return AdapterMethods.create("adalora", "kaiming", ARGS, m.weights(), TinyTraining.LORA.targets(), 11, null)
                .adapters();
    }

    static List<TrainingHook> hooks(dev.jlora.engine.model.LlamaModel m, TrainableAdapterSet a, TrainConfig cfg)
            throws IOException {
        return TrainingMethods.forAdapterMethod("adalora", ARGS,
                new TrainingMethods.Context(m, a, TinyTraining.data(cfg.seqLen()), cfg));
    }

    /** total_rank of each logged training step, in step order. */
    static List<Long> loggedRanks(Path dir) throws IOException {
        var out = new ArrayList<Long>();
        for (String line : Files.readAllLines(dir.resolve("metrics.jsonl"))) {
            var m = Json.parseObject(line, Json.Limits.DEFAULT, "metrics");
            if ("train".equals(m.get("kind"))) {
                out.add(((Number) m.get("total_rank")).longValue());
            }
        }
        return out;
    }

    @Test
    void totalRankFollowsTheCubicBudgetScheduleAtEveryStep() throws IOException {
        var m = TinyTraining.model();
        var cfg = TinyTraining.config().steps(8).evalEvery(0).build();
        var a = adapters(m);
        new Trainer(m, a, TinyTraining.data(cfg.seqLen()), cfg, dir, hooks(m, a, cfg)).train(null);

        // 2 layers × 3 targets = 6 modules; init budget 6·4 = 24, target 6·2 = 12; T = 8, tinit = 1, tfinal = 2.
        // The schedule of the paper's Eq. (14) as PEFT writes it, independently of AdaLora.schedule:
        int total = 8, tinit = 1, tfinal = 2, init = 24, target = 12;
        var want = new ArrayList<Long>();
        for (int t = 0; t < total; t++) {
            long b;
            if (t <= tinit) {
                b = init;                                   // warm-up: nothing masked
            } else if (t >= total - tfinal) {
                b = target;                                 // final phase: the fixed target pattern
            } else {
                double c = 1 - (double) (t - tinit) / (total - tfinal - tinit);
                b = (long) ((init - target) * c * c * c + target);
            }
            want.add(b);
        }
        assertEquals(want, loggedRanks(dir), "total_rank per step");
        for (var ad : a.adapters()) {
            var rm = (RankMaskedAdapter) ad;
            for (int k = 0; k < rm.maxRank(); k++) {
                if (rm.mask()[k] == 0) {
                    assertEquals(0f, rm.loraE().value()[k], 0f, "a masked triplet's λ is zero");
                }
            }
        }
    }

    /** Mean over modules of ‖BᵀB − I‖²_F + ‖AAᵀ − I‖²_F in float64, straight from the definition. */
    static double reference(List<double[]> as, List<double[]> bs, List<int[]> shapes) {
        double sum = 0;
        for (int n = 0; n < as.size(); n++) {
            int r = shapes.get(n)[0], IC = shapes.get(n)[1], OC = shapes.get(n)[2];
            double[] a = as.get(n), b = bs.get(n);
            for (int j = 0; j < r; j++) {
                for (int k = 0; k < r; k++) {
                    double pp = 0, qq = 0;
                    for (int o = 0; o < OC; o++) {
                        pp += b[o * r + j] * b[o * r + k];
                    }
                    for (int i = 0; i < IC; i++) {
                        qq += a[j * IC + i] * a[k * IC + i];
                    }
                    double id = j == k ? 1 : 0;
                    sum += (pp - id) * (pp - id) + (qq - id) * (qq - id);
                }
            }
        }
        return sum / as.size();
    }

    @Test
    void orthogonalRegularizerGradientMatchesFiniteDifferences() {
        var m = TinyTraining.model();
        var set = adapters(m);
        var rnd = new SplittableRandom(5);
        for (Parameter p : set.parameters()) {
            for (int i = 0; i < p.size(); i++) {
                p.value()[i] = (float) (rnd.nextDouble() - 0.5);
            }
            p.zeroGrad();
        }
        var modules = new RankModules(set, "adalora");
        double weight = 0.3;
        double value = modules.orthogonalRegularizer(weight, false);
        List<double[]> as = new ArrayList<>(), bs = new ArrayList<>();
        List<int[]> shapes = new ArrayList<>();
        for (var mod : modules.all()) {
            var ad = mod.adapter();
            as.add(toDouble(ad.loraA().value()));
            bs.add(toDouble(ad.loraB().value()));
            shapes.add(new int[] {ad.maxRank(), ad.inFeatures(), ad.outFeatures()});
        }
        double ref = weight * reference(as, bs, shapes);
        assertEquals(ref, value, 1e-9 * Math.abs(ref) + 1e-9, "value (float64 both ways)");
        double eps = 1e-6;
        for (int n = 0; n < modules.size(); n++) {
            var ad = modules.all().get(n).adapter();
            for (var pair : List.of(new Object[] {as.get(n), ad.loraA().grad()}, new Object[] {bs.get(n), ad.loraB().grad()})) {
                double[] v = (double[]) pair[0];
                float[] grad = (float[]) pair[1];
                for (int i = 0; i < v.length; i++) {
                    double keep = v[i];
                    v[i] = keep + eps;
                    double up = reference(as, bs, shapes);
                    v[i] = keep - eps;
                    double down = reference(as, bs, shapes);
                    v[i] = keep;
                    double fd = weight * (up - down) / (2 * eps);
                    // float32 gradient of O(1) terms vs float64 central differences (truncation ~1e-10): 1e-5 abs + 1e-5 rel
                    assertEquals(fd, grad[i], 1e-5 + 1e-5 * Math.abs(fd), "module " + n + " element " + i);
                }
            }
        }
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    @Test
    void resumedRunContinuesTheScheduleExactly() throws IOException {
        var m = TinyTraining.model();
        var cfg = TinyTraining.config().steps(8).evalEvery(0).checkpointEvery(3).keepCheckpoints(5)
                .bitReproducible(true).build();
        var full = adapters(m);
        new Trainer(m, full, TinyTraining.data(cfg.seqLen()), cfg, dir, hooks(m, full, cfg)).train(null);
        List<Long> ranks = loggedRanks(dir);

        var resumed = adapters(m);
        var trainer = new Trainer(m, resumed, TinyTraining.data(cfg.seqLen()), cfg, dir, hooks(m, resumed, cfg));
        trainer.resume(dir.resolve("checkpoints/checkpoint-000003.jlck"));
        trainer.train(null);
        assertEquals(ranks, loggedRanks(dir), "the resumed run logs the same ranks");
        var want = full.state();
        resumed.state().forEach((k, v) -> assertArrayEquals(want.get(k), v, k + " after resume (bit-reproducible run)"));
    }

    @Test
    void rejectsATargetAboveTheInitialRank() throws IOException {
        var m = TinyTraining.model();
        var cfg = TinyTraining.config().build();
        var a = adapters(m);
        var args = new java.util.HashMap<>(ARGS);
        args.put("target_r", "5");
        var e = assertThrows(IllegalArgumentException.class, () -> TrainingMethods.forAdapterMethod("adalora", args,
                new TrainingMethods.Context(m, a, TinyTraining.data(cfg.seqLen()), cfg)));
        assertTrue(e.getMessage().contains("target_r must be in [1, init_r=4]"), e.getMessage());
    }
}
