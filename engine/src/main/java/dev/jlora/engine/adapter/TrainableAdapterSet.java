package dev.jlora.engine.adapter;

import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.quant.QuantMatrix;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * The trainable adapters of a model, at most one per (layer, target). Parameters are named as in PEFT's module tree
 * without its prefix: {@code layers.3.q_proj.lora_A}; the order of {@link #parameters()} is fixed (layer, then
 * target in {@link Target} order, then the adapter's own order), which optimizers and checkpoints rely on. Parameters
 * that adapters share ({@link TrainableAdapter#sharedParameters()}, e.g. MoS's pools) come last, once each, under
 * their own set-wide names.
 */
public final class TrainableAdapterSet implements AdapterSet {
    private final List<Map<Target, TrainableAdapter>> byLayer;
    private final List<Parameter> parameters;
    private final List<Parameter> shared;
    private final TrainableBase base;

    private TrainableAdapterSet(List<Map<Target, TrainableAdapter>> byLayer, TrainableBase base) {
        this.byLayer = byLayer;
        this.base = base;
        var params = new ArrayList<Parameter>();
        for (int l = 0; l < byLayer.size(); l++) {
            for (var e : byLayer.get(l).entrySet()) {
                for (Parameter p : e.getValue().parameters()) {
                    params.add(p.renamed(prefix(l, e.getKey()) + p.name()));
                }
            }
        }
        this.shared = sharedOnce(byLayer);
        params.addAll(shared);
        if (base != null) {
            params.addAll(base.parameters());
        }
        this.parameters = Collections.unmodifiableList(params);
    }

    /**
     * The adapters' {@link TrainableAdapter#sharedParameters()}, each once (by identity) in first-seen order; two
     * different tensors under one name are an error, since state and files address them by name.
     */
    private static List<Parameter> sharedOnce(List<Map<Target, TrainableAdapter>> byLayer) {
        var seen = Collections.newSetFromMap(new IdentityHashMap<Parameter, Boolean>());
        var byName = new LinkedHashMap<String, Parameter>();
        for (var m : byLayer) {
            for (TrainableAdapter a : m.values()) {
                for (Parameter p : a.sharedParameters()) {
                    if (seen.add(p)) {
                        Parameter other = byName.putIfAbsent(p.name(), p);
                        if (other != null) {
                            throw new IllegalArgumentException("two different shared parameters are named '" + p.name() + "'");
                        }
                    }
                }
            }
        }
        return List.copyOf(byName.values());
    }

    /**
     * The same adapters (shared, not copied) plus trainable base tensors (embedding, norms, head), whose parameters
     * follow the adapters' in {@link #parameters()} and are saved and loaded with them.
     */
    public TrainableAdapterSet withBase(TrainableBase trainableBase) {
        if (base != null) {
            throw new IllegalStateException("this adapter set already trains base tensors " + base.parts());
        }
        return new TrainableAdapterSet(byLayer, java.util.Objects.requireNonNull(trainableBase, "trainableBase"));
    }

    /**
     * The same layout with every adapter replaced by {@code convert(adapter)} (same shape), without the trainable base
     * tensors: e.g. SoRA adapters as their pruned LoRA for export.
     */
    public TrainableAdapterSet mapAdapters(java.util.function.UnaryOperator<TrainableAdapter> convert) {
        var layers = new ArrayList<Map<Target, TrainableAdapter>>();
        for (var layer : byLayer) {
            var m = new java.util.EnumMap<Target, TrainableAdapter>(Target.class);
            for (var e : layer.entrySet()) {
                TrainableAdapter c = convert.apply(e.getValue());
                if (c.inFeatures() != e.getValue().inFeatures() || c.outFeatures() != e.getValue().outFeatures()) {
                    throw new IllegalArgumentException("converted adapter for " + e.getKey().hfName() + " changes its shape");
                }
                m.put(e.getKey(), c);
            }
            layers.add(m);
        }
        return new TrainableAdapterSet(layers, null);
    }

    /** The base tensors trained beside the adapters, or null when the base is entirely frozen. */
    public TrainableBase base() {
        return base;
    }

    /**
     * Adapters on {@code targets} of every block of {@code weights}. Each (layer, target) draws its initialisation
     * from its own stream derived from {@code seed}, so the result does not depend on which targets are chosen.
     * A factory may return null for a (layer, target): that layer then has no adapter there (EVA's rank
     * redistribution can give a layer rank 0).
     */
    public static TrainableAdapterSet create(LlamaWeights weights, Set<Target> targets, AdapterFactory factory, long seed) {
        var layers = new ArrayList<Map<Target, TrainableAdapter>>();
        for (int l = 0; l < weights.layers().size(); l++) {
            var m = new EnumMap<Target, TrainableAdapter>(Target.class);
            for (Target t : Target.values()) {
                if (targets.contains(t)) {
                    QuantMatrix base = baseWeight(weights.layers().get(l), t);
                    var rnd = new SplittableRandom(mix(seed, l * 16L + t.ordinal()));
                    TrainableAdapter a = factory.create(l, t, base, rnd);
                    if (a == null) {
                        continue;
                    }
                    if (a.inFeatures() != base.cols() || a.outFeatures() != base.rows()) {
                        throw new IllegalArgumentException("adapter for layer " + l + " " + t.hfName() + " is "
                                + a.outFeatures() + "×" + a.inFeatures() + " but the base weight is "
                                + base.rows() + "×" + base.cols());
                    }
                    m.put(t, a);
                }
            }
            layers.add(Collections.unmodifiableMap(m));
        }
        return new TrainableAdapterSet(List.copyOf(layers), null);
    }

    /** LoRA on {@code cfg.targets()} of every block. */
    public static TrainableAdapterSet lora(LlamaWeights weights, LoraConfig cfg, long seed) {
        return create(weights, cfg.targets(), AdapterFactory.lora(cfg), seed);
    }

    /** The frozen base weight an adapter on {@code t} sits beside. */
    public static QuantMatrix baseWeight(LlamaWeights.Layer layer, Target t) {
        return switch (t) {
            case Q -> layer.wq();
            case K -> layer.wk();
            case V -> layer.wv();
            case O -> layer.wo();
            case GATE -> layer.wGate();
            case UP -> layer.wUp();
            case DOWN -> layer.wDown();
        };
    }

    /** Name prefix of the adapter on (layer, target): {@code layers.N.q_proj.}. */
    public static String prefix(int layer, Target t) {
        return "layers." + layer + "." + t.hfName() + ".";
    }

    @Override
    public TrainableAdapter get(int layer, Target target) {
        return layer < byLayer.size() ? byLayer.get(layer).get(target) : null;
    }

    /** The targets that carry an adapter in at least one layer. */
    public Set<Target> targets() {
        var out = java.util.EnumSet.noneOf(Target.class);
        for (var m : byLayer) {
            out.addAll(m.keySet());
        }
        return out;
    }

    /** Every adapter in the fixed order (layer, then target). */
    public List<TrainableAdapter> adapters() {
        var out = new ArrayList<TrainableAdapter>();
        for (var m : byLayer) {
            out.addAll(m.values());
        }
        return out;
    }

    public int layerCount() {
        return byLayer.size();
    }

    /** All trainable parameters, fully named, in the fixed order. */
    public List<Parameter> parameters() {
        return parameters;
    }

    /** Number of trainable scalars. */
    public long parameterCount() {
        long n = 0;
        for (Parameter p : parameters) {
            n += p.size();
        }
        return n;
    }

    public void zeroGrad() {
        for (Parameter p : parameters) {
            p.zeroGrad();
        }
    }

    /** Every parameter and buffer by full name, sharing the live arrays (for saving). */
    public Map<String, float[]> state() {
        var out = new LinkedHashMap<String, float[]>();
        for (int l = 0; l < byLayer.size(); l++) {
            for (var e : byLayer.get(l).entrySet()) {
                String pre = prefix(l, e.getKey());
                for (Parameter p : e.getValue().parameters()) {
                    out.put(pre + p.name(), p.value());
                }
                for (var b : e.getValue().buffers().entrySet()) {
                    out.put(pre + b.getKey(), b.getValue());
                }
            }
        }
        for (Parameter p : shared) {
            out.put(p.name(), p.value());
        }
        if (base != null) {
            for (Parameter p : base.parameters()) {
                out.put(p.name(), p.value());
            }
        }
        return out;
    }

    /** Shape of every tensor in {@link #state()}, by full name (buffers are flat vectors). */
    public Map<String, int[]> shapes() {
        var out = new LinkedHashMap<String, int[]>();
        for (int l = 0; l < byLayer.size(); l++) {
            for (var e : byLayer.get(l).entrySet()) {
                String pre = prefix(l, e.getKey());
                for (Parameter p : e.getValue().parameters()) {
                    out.put(pre + p.name(), p.shape());
                }
                for (var b : e.getValue().buffers().entrySet()) {
                    out.put(pre + b.getKey(), new int[] {b.getValue().length});
                }
            }
        }
        for (Parameter p : shared) {
            out.put(p.name(), p.shape());
        }
        if (base != null) {
            for (Parameter p : base.parameters()) {
                out.put(p.name(), p.shape());
            }
        }
        return out;
    }

    /** Copies saved values (full names, as {@link #state()} gives them) into the adapters. */
    public void load(Map<String, float[]> state) {
        for (Parameter p : shared) {
            copyByName(state, p, "shared adapter tensor");
        }
        for (int l = 0; l < byLayer.size(); l++) {
            for (var e : byLayer.get(l).entrySet()) {
                String pre = prefix(l, e.getKey());
                var local = new LinkedHashMap<String, float[]>();
                for (var s : state.entrySet()) {
                    if (s.getKey().startsWith(pre)) {
                        local.put(s.getKey().substring(pre.length()), s.getValue());
                    }
                }
                try {
                    e.getValue().load(local);
                } catch (IllegalArgumentException ex) {
                    throw new IllegalArgumentException("layer " + l + " " + e.getKey().hfName() + ": " + ex.getMessage(), ex);
                }
            }
        }
        if (base != null) {
            for (Parameter p : base.parameters()) {
                copyByName(state, p, "trainable base tensor");
            }
        }
    }

    /** p's value ← state[p's full name]; {@code what} names the kind of tensor in the error. */
    private static void copyByName(Map<String, float[]> state, Parameter p, String what) {
        float[] src = state.get(p.name());
        if (src == null || src.length != p.size()) {
            throw new IllegalArgumentException(what + " '" + p.name() + "' is "
                    + (src == null ? "missing" : "of " + src.length + " elements, expected " + p.size()));
        }
        System.arraycopy(src, 0, p.value(), 0, src.length);
    }

    /** SplitMix64 finaliser of seed + k·golden: independent streams per (layer, target). */
    public static long mix(long seed, long k) {
        long z = seed + (k + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
