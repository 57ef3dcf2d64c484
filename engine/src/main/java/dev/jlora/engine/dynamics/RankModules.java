package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.RankMaskedAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@link RankMaskedAdapter}s of an adapter set, by module name ({@code layers.3.q_proj}), in the set's fixed
 * order: what every rank-allocation hook iterates over, with the pieces they share (rank counts for metrics, the
 * orthogonal regulariser of the SVD-form methods).
 */
final class RankModules {
    /** One adapted module. */
    record Module(String name, RankMaskedAdapter adapter) {}

    private final List<Module> modules;

    RankModules(TrainableAdapterSet adapters, String method) {
        var list = new ArrayList<Module>();
        for (int l = 0; l < adapters.layerCount(); l++) {
            for (Target t : Target.values()) {
                TrainableAdapter a = adapters.get(l, t);
                if (a == null) {
                    continue;
                }
                if (!(a instanceof RankMaskedAdapter rm) || !rm.method().equals(method)) {
                    throw new IllegalArgumentException(method + " needs " + method + " adapters (--method " + method
                            + "); layer " + l + " " + t.hfName() + " has " + a.method());
                }
                list.add(new Module(TrainableAdapterSet.prefix(l, t).replaceAll("\\.$", ""), rm));
            }
        }
        if (list.isEmpty()) {
            throw new IllegalArgumentException(method + ": the adapter set is empty");
        }
        this.modules = List.copyOf(list);
    }

    List<Module> all() {
        return modules;
    }

    int size() {
        return modules.size();
    }

    /** Σ over modules of the components in use. */
    int totalRank() {
        int n = 0;
        for (Module m : modules) {
            n += m.adapter().activeRank();
        }
        return n;
    }

    /** Components in use per module, by name (the rank pattern). */
    Map<String, Integer> pattern() {
        var m = new LinkedHashMap<String, Integer>();
        for (Module mod : modules) {
            m.put(mod.name(), mod.adapter().activeRank());
        }
        return m;
    }

    /** The metrics every rank-adaptive hook logs: total_rank and the per-module ranks in module order. */
    Map<String, Object> rankMetrics() {
        var m = new LinkedHashMap<String, Object>();
        m.put("total_rank", (long) totalRank());
        m.put("rank_pattern", pattern().values().stream().map(Integer::longValue).toList());
        return m;
    }

    /**
     * AdaLoRA's orthogonal regulariser (Zhang et al. 2023, Eq. (4)): for every module, R(P, Q) = ‖PᵀP − I‖²_F +
     * ‖QQᵀ − I‖²_F with P = B [OC × r] and Q = A [r × IC]. Adds {@code weight}·∂R/∂P = 4·weight·P·(PᵀP − I) and
     * {@code weight}·∂R/∂Q = 4·weight·(QQᵀ − I)·Q to the gradients and returns weight·Σ R.
     */
    double orthogonalRegularizer(double weight) {
        double total = 0;
        for (Module m : modules) {
            RankMaskedAdapter ad = m.adapter();
            int r = ad.maxRank(), OC = ad.outFeatures(), IC = ad.inFeatures();
            total += gram(ad.loraB().value(), ad.loraB().grad(), OC, r, true, weight);
            total += gram(ad.loraA().value(), ad.loraA().grad(), r, IC, false, weight);
        }
        return weight * total;
    }

    /**
     * ‖G − I‖²_F for G = MᵀM ({@code columns}: M [rows × r], r = cols) or G = M·Mᵀ (M [r × cols], r = rows); adds
     * weight·4·M·D (resp. 4·D·M), D = G − I, to {@code grad}.
     */
    private static double gram(float[] m, float[] grad, int rows, int cols, boolean columns, double weight) {
        int r = columns ? cols : rows, n = columns ? rows : cols;
        double[] d = new double[r * r];
        for (int j = 0; j < r; j++) {
            for (int k = 0; k < r; k++) {
                double s = 0;
                for (int i = 0; i < n; i++) {
                    s += (double) at(m, columns, i, j, cols) * at(m, columns, i, k, cols);
                }
                d[j * r + k] = s - (j == k ? 1 : 0);
            }
        }
        double value = 0;
        for (double v : d) {
            value += v * v;
        }
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < r; k++) {
                double s = 0;
                for (int j = 0; j < r; j++) {
                    s += at(m, columns, i, j, cols) * d[j * r + k];
                }
                int idx = columns ? i * cols + k : k * cols + i;
                grad[idx] += (float) (4 * weight * s);
            }
        }
        return value;
    }

    /** Element (i, j) of M viewed as [n × r]: M itself when {@code columns}, else Mᵀ. */
    private static float at(float[] m, boolean columns, int i, int j, int cols) {
        return columns ? m[i * cols + j] : m[j * cols + i];
    }
}
