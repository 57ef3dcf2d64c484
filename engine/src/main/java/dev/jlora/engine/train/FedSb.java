package dev.jlora.engine.train;

import dev.jlora.engine.adapter.LoraSbAdapter;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.data.SequencePacker;
import dev.jlora.engine.model.LlamaModel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Fed-SB (Singhal, Ponkshe, Vartak and Vepakomma 2025, "Fed-SB: A Silver Bullet for Extreme Communication Efficiency
 * and Performance in (Private) Federated LLM Fine-Tuning", arXiv:2502.15436, §3 and Algorithm 1), simulated in one
 * process: every client holds the same frozen LoRA-SB factors A and B (sent once) and trains only the r × r matrices
 * R on its own data shard; the server averages the clients' R. Because ΔW = B·R·A is linear in R, the average of the
 * R is exactly the average of the clients' updates, B·R̄·A = (1/N)·Σ_k B·R_k·A (§3.2), which averaging LoRA's A and B
 * separately is not; and each client sends r² numbers per layer, independent of the model width.
 *
 * <p>Protocol per round t: each client k loads R̄_t, trains {@code local.steps()} optimizer steps on its shard with a
 * fresh optimizer (clients keep no optimizer state between rounds, as in FedAvg) and a data order drawn from
 * (seed, t, k), and returns R_k; the server sets R̄_{t+1} = (1/N)·Σ_k R_k (the unweighted mean of Algorithm 1; the
 * shards are equal-sized). Each client writes its metrics and end-of-round checkpoint under
 * {@code outDir/client-k/}.
 */
public final class FedSb {
    private FedSb() {}

    /**
     * One finished round.
     *
     * @param clientLosses    mean training loss of each client's local steps
     * @param clientParameters each client's trained R by full parameter name (what it sends to the server)
     */
    public record Round(int round, List<Double> clientLosses, List<Map<String, float[]>> clientParameters) {
        public double meanLoss() {
            return clientLosses.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
        }
    }

    /** The training rows dealt round-robin into {@code clients} shards (row i to client i mod N); no held-out rows. */
    public static List<Dataset> shards(Dataset data, int clients) {
        if (clients <= 0) {
            throw new IllegalArgumentException("Fed-SB needs at least one client, got " + clients);
        }
        if (data.train().size() < clients) {
            throw new IllegalArgumentException("Fed-SB: " + clients + " clients but only " + data.train().size()
                    + " training rows; every client needs at least one");
        }
        var out = new ArrayList<Dataset>();
        for (int k = 0; k < clients; k++) {
            var rows = new ArrayList<SequencePacker.Row>();
            int targets = 0;
            for (int i = k; i < data.train().size(); i += clients) {
                var row = data.train().get(i);
                rows.add(row);
                for (int t = 1; t < row.loss().length; t++) {
                    targets += row.loss()[t] ? 1 : 0;
                }
            }
            out.add(new Dataset(List.copyOf(rows), List.of(), data.T(), data.padToken(), targets));
        }
        return out;
    }

    /** The server's aggregation: the element-wise mean of the clients' tensors, name by name. */
    public static Map<String, float[]> average(List<Map<String, float[]>> clients) {
        if (clients.isEmpty()) {
            throw new IllegalArgumentException("Fed-SB: nothing to average");
        }
        var out = new LinkedHashMap<String, float[]>();
        for (var e : clients.getFirst().entrySet()) {
            double[] sum = new double[e.getValue().length];
            for (var c : clients) {
                float[] v = c.get(e.getKey());
                if (v == null || v.length != sum.length) {
                    throw new IllegalArgumentException("Fed-SB: a client sent no tensor '" + e.getKey()
                            + "' of " + sum.length + " values");
                }
                for (int i = 0; i < sum.length; i++) {
                    sum[i] += v[i];
                }
            }
            float[] mean = new float[sum.length];
            for (int i = 0; i < sum.length; i++) {
                mean[i] = (float) (sum[i] / clients.size());
            }
            out.put(e.getKey(), mean);
        }
        return out;
    }

    /**
     * Runs {@code rounds} rounds over {@code shards} (one per client) with {@code adapters} as the shared LoRA-SB
     * model; on return the adapters hold R̄ after the last round. {@code local} configures one client's round
     * (its steps, optimizer, learning rate; its seed is mixed with the round and client).
     */
    public static List<Round> train(LlamaModel model, TrainableAdapterSet adapters, List<Dataset> shards,
                                    TrainConfig local, int rounds, Path outDir, Consumer<Round> onRound)
            throws IOException {
        for (TrainableAdapter a : adapters.adapters()) {
            if (!(a instanceof LoraSbAdapter)) {
                throw new IllegalArgumentException("Fed-SB aggregates LoRA-SB's R exactly; adapter method '"
                        + a.method() + "' cannot be averaged that way (use --method lorasb)");
            }
        }
        if (rounds <= 0) {
            throw new IllegalArgumentException("Fed-SB needs at least one round, got " + rounds);
        }
        var history = new ArrayList<Round>();
        Map<String, float[]> global = snapshot(adapters);
        for (int t = 1; t <= rounds; t++) {
            var sent = new ArrayList<Map<String, float[]>>();
            var losses = new ArrayList<Double>();
            for (int k = 0; k < shards.size(); k++) {
                load(adapters, global);
                TrainConfig cfg = local.toBuilder().seed(local.seed() * 1_000_003L + t * 1_009L + k)
                        .checkpointEvery(0).build();
                var trainer = new Trainer(model, adapters, shards.get(k), cfg, outDir.resolve("client-" + k));
                Trainer.Result r = trainer.train(new TrainListener() {});
                losses.add(r.losses().stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN));
                sent.add(snapshot(adapters));
            }
            global = average(sent);
            load(adapters, global);
            var round = new Round(t, List.copyOf(losses), List.copyOf(sent));
            history.add(round);
            if (onRound != null) {
                onRound.accept(round);
            }
        }
        return history;
    }

    /** Copies of the trainable tensors (the R matrices) by full name. */
    private static Map<String, float[]> snapshot(TrainableAdapterSet adapters) {
        var out = new LinkedHashMap<String, float[]>();
        for (Parameter p : adapters.parameters()) {
            out.put(p.name(), p.value().clone());
        }
        return out;
    }

    private static void load(TrainableAdapterSet adapters, Map<String, float[]> values) {
        for (Parameter p : adapters.parameters()) {
            System.arraycopy(values.get(p.name()), 0, p.value(), 0, p.value().length);
        }
    }
}
