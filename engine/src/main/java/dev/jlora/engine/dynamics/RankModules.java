package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.RankMaskedAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToIntFunction;

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

    /** Σ over modules of {@code rank(adapter)}. */
    int totalRank(ToIntFunction<RankMaskedAdapter> rank) {
        int n = 0;
        for (Module m : modules) {
            n += rank.applyAsInt(m.adapter());
        }
        return n;
    }

    /** The metrics every rank-adaptive hook logs: total_rank and the per-module ranks (rank_pattern) in module order. */
    Map<String, Object> rankMetrics(ToIntFunction<RankMaskedAdapter> rank) {
        var m = new LinkedHashMap<String, Object>();
        m.put("total_rank", (long) totalRank(rank));
        m.put("rank_pattern", modules.stream().map(mod -> (long) rank.applyAsInt(mod.adapter())).toList());
        return m;
    }

    /**
     * AdaLoRA's orthogonal regulariser (Zhang et al. 2023, Eq. (4)): for every module, R(P, Q) = ‖PᵀP − I‖²_F +
     * ‖QQᵀ − I‖²_F with P = B [OC × r] and Q = A [r × IC], over all r components or, with {@code inUseOnly}, over the
     * components whose mask is 1 (masked ones are left alone). Eq. (4) sums R over the modules; the authors' code and
     * PEFT divide by the number of adapted matrices, so that γ does not grow with the model, and we do the same: the
     * value is weight·mean R, and weight/n·∂R/∂P = 4·weight/n·P·(PᵀP − I), weight/n·∂R/∂Q = 4·weight/n·(QQᵀ − I)·Q
     * are added to the gradients (n modules).
     */
    double orthogonalRegularizer(double weight, boolean inUseOnly) {
        double perModule = weight / modules.size();
        double total = 0;
        for (Module m : modules) {
            RankMaskedAdapter ad = m.adapter();
            int r = ad.maxRank(), OC = ad.outFeatures(), IC = ad.inFeatures();
            int[] use = java.util.stream.IntStream.range(0, r).filter(k -> !inUseOnly || ad.mask()[k] != 0).toArray();
            total += gram(ad.loraB().value(), ad.loraB().grad(), OC, r, true, use, perModule);
            total += gram(ad.loraA().value(), ad.loraA().grad(), r, IC, false, use, perModule);
        }
        return perModule * total;
    }

    /**
     * ‖G − I‖²_F for G = MᵀM ({@code columns}: M [rows × r], r = cols) or G = M·Mᵀ (M [r × cols], r = rows),
     * restricted to the components {@code use}; adds weight·4·M·D (resp. 4·D·M), D = G − I, to {@code grad}.
     */
    private static double gram(float[] m, float[] grad, int rows, int cols, boolean columns, int[] use, double weight) {
        int u = use.length, n = columns ? rows : cols;
        double[] d = new double[u * u];
        for (int j = 0; j < u; j++) {
            for (int k = 0; k < u; k++) {
                double s = 0;
                for (int i = 0; i < n; i++) {
                    s += (double) at(m, columns, i, use[j], cols) * at(m, columns, i, use[k], cols);
                }
                d[j * u + k] = s - (j == k ? 1 : 0);
            }
        }
        double value = 0;
        for (double v : d) {
            value += v * v;
        }
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < u; k++) {
                double s = 0;
                for (int j = 0; j < u; j++) {
                    s += at(m, columns, i, use[j], cols) * d[j * u + k];
                }
                int idx = columns ? i * cols + use[k] : use[k] * cols + i;
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
