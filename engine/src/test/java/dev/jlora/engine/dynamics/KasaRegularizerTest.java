package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.KasaAdapter;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Requantizer;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.ref.TinyTraining;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** KaSA's regularisers: value and gradients against float64 central differences of the paper's formulas. */
class KasaRegularizerTest {

    /** (β·Σ‖d‖² + γ·Σ(‖BᵀB − I‖_F + ‖AAᵀ − I‖_F)) / n in float64, straight from §3. */
    static double reference(List<KasaAdapter> ks, List<double[]> as, List<double[]> bs, List<double[]> ds,
                            double beta, double gamma) {
        double total = 0;
        for (int n = 0; n < ks.size(); n++) {
            int r = ds.get(n).length;
            double[] a = as.get(n), b = bs.get(n), d = ds.get(n);
            int ic = a.length / r, oc = b.length / r;
            double l2 = 0, fb = 0, fa = 0;
            for (double v : d) {
                l2 += v * v;
            }
            for (int p = 0; p < r; p++) {
                for (int q = 0; q < r; q++) {
                    double btb = 0, aat = 0;
                    for (int o = 0; o < oc; o++) {
                        btb += b[o * r + p] * b[o * r + q];
                    }
                    for (int i = 0; i < ic; i++) {
                        aat += a[p * ic + i] * a[q * ic + i];
                    }
                    fb += Math.pow(btb - (p == q ? 1 : 0), 2);
                    fa += Math.pow(aat - (p == q ? 1 : 0), 2);
                }
            }
            total += beta * l2 + gamma * (Math.sqrt(fb) + Math.sqrt(fa));
        }
        return total / ks.size();
    }

    @Test
    void regularizerGradientsMatchFiniteDifferences() {
        var m = TinyTraining.model();
        TrainableAdapterSet set = AdapterMethods.create("kasa", "kaiming", Map.of("rank", "3"), m.weights(),
                TinyTraining.LORA.targets(), 7, Requantizer.DEFAULT).adapters();
        var ks = new ArrayList<KasaAdapter>();
        var rnd = new SplittableRandom(8);
        for (var a : set.adapters()) {
            var k = (KasaAdapter) a;
            ks.add(k);
            for (Parameter p : k.parameters()) {
                for (int i = 0; i < p.size(); i++) {
                    p.value()[i] = (float) ((rnd.nextDouble() * 2 - 1) * 0.5);
                }
                p.zeroGrad();
            }
        }
        double beta = 0.3, gamma = 0.7;
        var hook = new KasaRegularizer(set, beta, gamma);
        double value = hook.afterBackward(0);
        var as = new ArrayList<double[]>();
        var bs = new ArrayList<double[]>();
        var ds = new ArrayList<double[]>();
        for (KasaAdapter k : ks) {
            as.add(toDouble(k.loraA().value()));
            bs.add(toDouble(k.loraB().value()));
            ds.add(toDouble(k.diag().value()));
        }
        // value: float64 reference of the same float32 parameters; sums of a few hundred products, 1e-9 relative
        double want = reference(ks, as, bs, ds, beta, gamma);
        assertEquals(want, value, 1e-9 * Math.abs(want));
        // gradients: central differences (eps 1e-6, float64) vs the float32 gradients; 1e-5 abs + 1e-4 rel
        double eps = 1e-6;
        int checked = 0;
        for (int n = 0; n < ks.size(); n += 3) {                     // a few adapters keep the test fast
            List<double[]> vals = List.of(as.get(n), bs.get(n), ds.get(n));
            List<Parameter> params = List.of(ks.get(n).loraA(), ks.get(n).loraB(), ks.get(n).diag());
            for (int t = 0; t < 3; t++) {
                double[] v = vals.get(t);
                for (int i = 0; i < v.length; i += 3) {
                    double keep = v[i];
                    v[i] = keep + eps;
                    double up = reference(ks, as, bs, ds, beta, gamma);
                    v[i] = keep - eps;
                    double down = reference(ks, as, bs, ds, beta, gamma);
                    v[i] = keep;
                    double fd = (up - down) / (2 * eps);
                    float got = params.get(t).grad()[i];
                    assertEquals(fd, got, 1e-5 + 1e-4 * Math.abs(fd), params.get(t).name() + "[" + i + "] of adapter " + n);
                    checked++;
                }
            }
        }
        assertTrue(checked > 40, "checked " + checked);
        assertEquals(2, hook.metrics().size());
    }

    @Test
    void kasaHookComesWithTheMethodAndNeedsKasaAdapters() throws Exception {
        var m = TinyTraining.model();
        var cfg = TinyTraining.config().build();
        var data = TinyTraining.data(cfg.seqLen());
        var kasa = AdapterMethods.create("kasa", "kaiming", Map.of("rank", "2"), m.weights(),
                TinyTraining.LORA.targets(), 7, Requantizer.DEFAULT).adapters();
        var hooks = TrainingMethods.forAdapterMethod("kasa", Map.of("rank", "2", "beta", "0.5"),
                new TrainingMethods.Context(m, kasa, data, cfg));
        assertEquals(1, hooks.size());
        assertTrue(hooks.get(0) instanceof KasaRegularizer);
        var lora = TrainableAdapterSet.lora(m.weights(), TinyTraining.LORA, 1);
        var e = assertThrows(IllegalArgumentException.class, () -> new KasaRegularizer(lora, 1, 1));
        assertTrue(e.getMessage().contains("--method kasa"), e.getMessage());
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}
