package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.RoutedAdapter;
import dev.jlora.engine.adapter.RoutingStats;
import dev.jlora.engine.adapter.SmoraAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.train.TrainingHook;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The training hook of the mixtures of LoRA experts ({@link RoutedAdapter}: loramoe, mola, smora, dynmole, mixlora), attached
 * automatically with {@code --method NAME}. The adapters compute their auxiliary loss in forwardTrain and add its
 * gradient in backward; this hook scales that gradient like the main loss (1/accumulation steps), adds the loss value
 * to the step's logged loss ({@link #afterBackward}), runs SMoRA's bias update after each optimizer step, and logs
 * routing statistics in {@code metrics.jsonl}:
 * <ul>
 *   <li>{@code moe_aux_loss}: the auxiliary loss of the step (sum over adapters, mean over micro-batches);</li>
 *   <li>{@code moe_router_entropy}: mean Shannon entropy (nats) of the router distributions over tokens and adapters;</li>
 *   <li>{@code moe_experts_per_token}: mean number of experts a token is sent to (DynMoLE's varies);</li>
 *   <li>{@code moe_load_cv}: mean over adapters of the coefficient of variation of the expert loads (0 = balanced);</li>
 *   <li>{@code moe_expert_load}: per layer, each expert's share of the routing mass (averaged over the layer's
 *       targets).</li>
 * </ul>
 */
public final class MixtureRouting implements TrainingHook {
    private final String name;
    private final List<RoutedAdapter> mixtures = new ArrayList<>();
    private final List<Integer> layerOf = new ArrayList<>();
    private final int layers;
    private final List<RoutingStats> last = new ArrayList<>();

    public MixtureRouting(String name, TrainableAdapterSet adapters, int gradAccum) {
        this.name = name;
        this.layers = adapters.layerCount();
        for (int l = 0; l < adapters.layerCount(); l++) {
            for (Target t : Target.values()) {
                TrainableAdapter a = adapters.get(l, t);
                if (a instanceof RoutedAdapter m) {
                    m.setAuxGradScale(1f / gradAccum);
                    mixtures.add(m);
                    layerOf.add(l);
                }
            }
        }
        if (mixtures.isEmpty()) {
            throw new IllegalArgumentException(name + ": the adapters contain no mixture of LoRA experts");
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public double afterBackward(int step) {
        last.clear();
        double aux = 0;
        for (RoutedAdapter m : mixtures) {
            RoutingStats s = m.drainStats();
            last.add(s);
            if (s.microBatches > 0) {
                aux += s.auxLoss / s.microBatches;
            }
        }
        return aux;
    }

    @Override
    public void afterStep(int step) {
        for (int i = 0; i < mixtures.size(); i++) {
            if (mixtures.get(i) instanceof SmoraAdapter s) {
                s.updateBias(last.get(i).chosen);
            }
        }
    }

    @Override
    public Map<String, Object> metrics() {
        if (last.isEmpty()) {
            return Map.of();
        }
        double aux = 0, entropy = 0, experts = 0, cv = 0;
        long tokens = 0;
        var loadByLayer = new ArrayList<double[]>();
        var countByLayer = new int[layers];
        for (int l = 0; l < layers; l++) {
            loadByLayer.add(null);
        }
        for (int i = 0; i < last.size(); i++) {
            RoutingStats s = last.get(i);
            if (s.microBatches > 0) {
                aux += s.auxLoss / s.microBatches;
            }
            entropy += s.entropySum;
            experts += s.expertsSum;
            tokens += s.tokens;
            double[] share = shares(s.load);
            cv += coefficientOfVariation(share);
            int l = layerOf.get(i);
            double[] acc = loadByLayer.get(l);
            if (acc == null || acc.length != share.length) {
                acc = new double[share.length];
                loadByLayer.set(l, acc);
            }
            for (int e = 0; e < share.length; e++) {
                acc[e] += share[e];
            }
            countByLayer[l]++;
        }
        var load = new ArrayList<Object>();
        for (int l = 0; l < layers; l++) {
            double[] acc = loadByLayer.get(l);
            var row = new ArrayList<Object>();
            if (acc != null) {
                for (double v : acc) {
                    row.add(v / countByLayer[l]);
                }
            }
            load.add(row);
        }
        var m = new LinkedHashMap<String, Object>();
        m.put("moe_aux_loss", aux);
        m.put("moe_router_entropy", tokens == 0 ? 0.0 : entropy / tokens);
        m.put("moe_experts_per_token", tokens == 0 ? 0.0 : experts / tokens);
        m.put("moe_load_cv", cv / last.size());
        m.put("moe_expert_load", load);
        return m;
    }

    private static double[] shares(double[] load) {
        double sum = 0;
        for (double v : load) {
            sum += v;
        }
        double[] out = new double[load.length];
        for (int e = 0; e < load.length; e++) {
            out[e] = sum > 0 ? load[e] / sum : 0;
        }
        return out;
    }

    /** σ/μ of the shares (population σ); μ = 1/E. */
    private static double coefficientOfVariation(double[] share) {
        double mean = 1.0 / share.length, var = 0;
        for (double v : share) {
            var += (v - mean) * (v - mean) / share.length;
        }
        return Math.sqrt(var) / mean;
    }
}
