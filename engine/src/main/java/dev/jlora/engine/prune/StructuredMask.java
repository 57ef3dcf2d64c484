package dev.jlora.engine.prune;

import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.model.LlamaConfig;
import java.util.Arrays;

/**
 * Which structures of a Llama decoder are pruned: per block, attention head groups and FFN channels. What LoRAPrune
 * masks during fine-tuning and what LoRAM cuts out of the base before training share this geometry.
 *
 * <p>A head group is one key/value head with the H/KVH query heads that read it (with multi-head attention, one
 * head): removing it removes those rows of Wq, Wk, Wv and those columns of Wo. An FFN channel c is row c of Wgate
 * and Wup and column c of Wdown. Pruning whole KV groups keeps the pruned model a valid grouped-query attention
 * (LLM-Pruner's dependency groups for Llama; LoRAPrune's reference code assumes H = KVH, where the two agree). In
 * GGUF's permuted Q/K layout rows are reordered only within a head, so {@code row / headDim} is still the head.
 */
public final class StructuredMask {
    /** The two kinds of prunable structure. */
    public enum Kind {
        HEADS, CHANNELS;

        /** HEADS for q, k, v, o; CHANNELS for gate, up, down. */
        public static Kind of(Target t) {
            return switch (t) {
                case Q, K, V, O -> HEADS;
                case GATE, UP, DOWN -> CHANNELS;
            };
        }
    }

    private final int layers, kvGroups, channels, queryHeadsPerGroup, headDim;
    private final boolean[][] prunedHeads, prunedChannels;   // [layer][group]

    public StructuredMask(int layers, int kvGroups, int queryHeadsPerGroup, int headDim, int channels) {
        if (layers <= 0 || kvGroups <= 0 || queryHeadsPerGroup <= 0 || headDim <= 0 || channels <= 0) {
            throw new IllegalArgumentException("structured mask sizes must be positive: layers=" + layers
                    + " kvGroups=" + kvGroups + " queryHeadsPerGroup=" + queryHeadsPerGroup + " headDim=" + headDim
                    + " channels=" + channels);
        }
        this.layers = layers;
        this.kvGroups = kvGroups;
        this.channels = channels;
        this.queryHeadsPerGroup = queryHeadsPerGroup;
        this.headDim = headDim;
        this.prunedHeads = new boolean[layers][kvGroups];
        this.prunedChannels = new boolean[layers][channels];
    }

    /** Nothing pruned, shaped like {@code cfg}. */
    public static StructuredMask of(LlamaConfig cfg) {
        return new StructuredMask(cfg.nLayers(), cfg.nKvHeads(), cfg.nHeads() / cfg.nKvHeads(), cfg.headDim(),
                cfg.hiddenDim());
    }

    public int layers() {
        return layers;
    }

    /** Head groups (KV heads) or FFN channels per block. */
    public int groups(Kind kind) {
        return kind == Kind.HEADS ? kvGroups : channels;
    }

    private boolean[] pruned(int layer, Kind kind) {
        if (layer < 0 || layer >= layers) {
            throw new IllegalArgumentException("layer " + layer + " outside [0, " + layers + ")");
        }
        return kind == Kind.HEADS ? prunedHeads[layer] : prunedChannels[layer];
    }

    public boolean isPruned(int layer, Kind kind, int group) {
        return pruned(layer, kind)[group];
    }

    public void prune(int layer, Kind kind, int group) {
        pruned(layer, kind)[group] = true;
    }

    public int prunedCount(int layer, Kind kind) {
        int n = 0;
        for (boolean p : pruned(layer, kind)) {
            n += p ? 1 : 0;
        }
        return n;
    }

    /** Indices of the kept groups of {@code kind} in {@code layer}, ascending. */
    public int[] kept(int layer, Kind kind) {
        boolean[] p = pruned(layer, kind);
        int[] out = new int[p.length - prunedCount(layer, kind)];
        for (int g = 0, j = 0; g < p.length; g++) {
            if (!p[g]) {
                out[j++] = g;
            }
        }
        return out;
    }

    /**
     * Prunes the kept groups of lowest {@code importance} until {@code count} groups of {@code kind} are pruned in
     * {@code layer} (ties broken by the lower index). Groups already pruned stay pruned: pruning only grows.
     */
    public void pruneTo(int layer, Kind kind, int count, double[] importance) {
        boolean[] p = pruned(layer, kind);
        if (importance.length != p.length) {
            throw new IllegalArgumentException("importance of " + kind + " in layer " + layer + " has "
                    + importance.length + " entries, expected " + p.length);
        }
        if (count < 0 || count >= p.length) {
            throw new IllegalArgumentException("cannot prune " + count + " of the " + p.length + " " + kind
                    + " of layer " + layer + " (at least one must stay)");
        }
        Integer[] order = new Integer[p.length];
        Arrays.setAll(order, i -> i);
        Arrays.sort(order, (a, b) -> Double.compare(importance[a], importance[b]));
        for (int i = 0, have = prunedCount(layer, kind); i < order.length && have < count; i++) {
            if (!p[order[i]]) {
                p[order[i]] = true;
                have++;
            }
        }
    }

    /**
     * The structure a weight element belongs to through its output row: for Q a query row's KV group, for K and V
     * the KV head, for GATE and UP the channel; -1 for O and DOWN, which are grouped by input column.
     */
    public int rowGroup(Target t, int row) {
        return switch (t) {
            case Q -> row / headDim / queryHeadsPerGroup;
            case K, V -> row / headDim;
            case GATE, UP -> row;
            case O, DOWN -> -1;
        };
    }

    /** The structure of input column {@code col} of O (its query head's KV group) and DOWN (the channel); else -1. */
    public int colGroup(Target t, int col) {
        return switch (t) {
            case O -> col / headDim / queryHeadsPerGroup;
            case DOWN -> col;
            default -> -1;
        };
    }

    /** Whether pruning shows in {@code t}'s output rows (q, k, v, gate, up) rather than its input columns (o, down). */
    public static boolean groupsRows(Target t) {
        return t != Target.O && t != Target.DOWN;
    }

    /** Rows (q, k, v, gate, up) or columns (o, down) of {@code t} in {@code layer} that belong to kept structures. */
    public int[] keptIndices(int layer, Target t, int size) {
        boolean rows = groupsRows(t);
        boolean[] p = pruned(layer, Kind.of(t));
        int n = 0;
        for (int i = 0; i < size; i++) {
            n += p[rows ? rowGroup(t, i) : colGroup(t, i)] ? 0 : 1;
        }
        int[] out = new int[n];
        for (int i = 0, j = 0; i < size; i++) {
            if (!p[rows ? rowGroup(t, i) : colGroup(t, i)]) {
                out[j++] = i;
            }
        }
        return out;
    }

    /** 1 for output rows of {@code t} (size OC) kept, 0 for pruned; all ones for o and down. */
    public float[] rowMask(int layer, Target t, int outFeatures) {
        float[] m = new float[outFeatures];
        Arrays.fill(m, 1f);
        if (groupsRows(t)) {
            boolean[] p = pruned(layer, Kind.of(t));
            for (int o = 0; o < outFeatures; o++) {
                if (p[rowGroup(t, o)]) {
                    m[o] = 0f;
                }
            }
        }
        return m;
    }

    /** The pruned flags of {@code kind} in {@code layer} as 1/0 floats (for checkpoints). */
    public float[] toFloats(int layer, Kind kind) {
        boolean[] p = pruned(layer, kind);
        float[] out = new float[p.length];
        for (int g = 0; g < p.length; g++) {
            out[g] = p[g] ? 1f : 0f;
        }
        return out;
    }

    /** Restores what {@link #toFloats} gave. */
    public void loadFloats(int layer, Kind kind, float[] flags) {
        boolean[] p = pruned(layer, kind);
        if (flags.length != p.length) {
            throw new IllegalArgumentException("pruned " + kind + " flags of layer " + layer + " have " + flags.length
                    + " entries, expected " + p.length);
        }
        for (int g = 0; g < p.length; g++) {
            p[g] = flags[g] != 0f;
        }
    }
}
