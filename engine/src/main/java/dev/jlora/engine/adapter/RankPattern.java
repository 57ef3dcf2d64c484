package dev.jlora.engine.adapter;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Ranks and alphas of single layers that differ from an adapter file's {@code rank} and {@code alpha} (PEFT's
 * {@code rank_pattern} and {@code alpha_pattern}, which EVA's rank redistribution fills). In jlora metadata:
 * {@code rank_pattern=layers.0.q_proj:4,layers.1.v_proj:0} and {@code alpha_pattern=layers.0.q_proj:8.0}; rank 0 means
 * the layer has no adapter. Keys are {@link TrainableAdapterSet#prefix} without the final dot.
 */
public record RankPattern(Map<String, Integer> ranks, Map<String, Float> alphas) {
    public static final String RANK_KEY = "rank_pattern";
    public static final String ALPHA_KEY = "alpha_pattern";

    public RankPattern {
        ranks = Map.copyOf(ranks);
        alphas = Map.copyOf(alphas);
    }

    public boolean isEmpty() {
        return ranks.isEmpty() && alphas.isEmpty();
    }

    /** "layers.N.q_proj". */
    public static String key(int layer, Target t) {
        String p = TrainableAdapterSet.prefix(layer, t);
        return p.substring(0, p.length() - 1);
    }

    /**
     * The layers of {@code set} whose {@code rank} / {@code alpha} config differs from the first adapter's, and the
     * (layer, target) pairs of its targets that have no adapter (rank 0).
     */
    public static RankPattern of(TrainableAdapterSet set) {
        var all = set.adapters();
        if (all.isEmpty()) {
            return new RankPattern(Map.of(), Map.of());
        }
        Map<String, String> first = all.getFirst().config();
        var ranks = new TreeMap<String, Integer>();
        var alphas = new TreeMap<String, Float>();
        for (int l = 0; l < set.layerCount(); l++) {
            for (Target t : set.targets()) {
                TrainableAdapter a = set.get(l, t);
                if (a == null) {
                    ranks.put(key(l, t), 0);
                    continue;
                }
                Map<String, String> c = a.config();
                if (c.get("rank") != null && !c.get("rank").equals(first.get("rank"))) {
                    ranks.put(key(l, t), Integer.parseInt(c.get("rank")));
                }
                if (c.get("alpha") != null && !c.get("alpha").equals(first.get("alpha"))) {
                    alphas.put(key(l, t), Float.parseFloat(c.get("alpha")));
                }
            }
        }
        return new RankPattern(ranks, alphas);
    }

    /** The metadata entries (none when the pattern is empty). */
    public Map<String, String> meta() {
        var out = new LinkedHashMap<String, String>();
        if (!ranks.isEmpty()) {
            out.put(RANK_KEY, join(new TreeMap<>(ranks)));
        }
        if (!alphas.isEmpty()) {
            out.put(ALPHA_KEY, join(new TreeMap<>(alphas)));
        }
        return out;
    }

    private static String join(Map<String, ?> m) {
        var sb = new StringBuilder();
        m.forEach((k, v) -> sb.append(sb.isEmpty() ? "" : ",").append(k).append(':').append(v));
        return sb.toString();
    }

    /** Reads the pattern from adapter metadata (empty when the keys are absent). */
    public static RankPattern parse(Map<String, String> meta) {
        var ranks = new LinkedHashMap<String, Integer>();
        var alphas = new LinkedHashMap<String, Float>();
        split(meta.get(RANK_KEY), RANK_KEY, (k, v) -> {
            int r = Integer.parseInt(v);
            if (r < 0) {
                throw new NumberFormatException("negative");
            }
            ranks.put(k, r);
        });
        split(meta.get(ALPHA_KEY), ALPHA_KEY, (k, v) -> alphas.put(k, Float.parseFloat(v)));
        return new RankPattern(ranks, alphas);
    }

    private static void split(String spec, String name, java.util.function.BiConsumer<String, String> put) {
        if (spec == null || spec.isBlank()) {
            return;
        }
        for (String part : spec.split(",")) {
            int colon = part.lastIndexOf(':');
            if (colon <= 0) {
                throw new IllegalArgumentException(name + ": expected layers.N.module:value, got '" + part + "'");
            }
            try {
                put.accept(part.substring(0, colon).trim(), part.substring(colon + 1).trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(name + ": '" + part + "' needs a non-negative number after ':'");
            }
        }
    }

    public int rank(int layer, Target t, int dflt) {
        return ranks.getOrDefault(key(layer, t), dflt);
    }

    public float alpha(int layer, Target t, float dflt) {
        return alphas.getOrDefault(key(layer, t), dflt);
    }
}
