package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.FullAdapter;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.adapter.TrainableBase;
import dev.jlora.engine.train.TrainingHook;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * LISA (Pan, Liu, Diao, Pi, Zhang &amp; Zhang 2024, "LISA: Layerwise Importance Sampling for Memory-Efficient Large
 * Language Model Fine-Tuning", Algorithm 1): full-parameter fine-tuning in which, every K steps
 * ({@code lisa_interval_steps}), γ of the N_L decoder layers ({@code lisa_activated_layers}) are sampled uniformly
 * without replacement and only they, with the embedding and the head, are updated until the next sampling; the other
 * layers stay frozen. As in the reference implementation (LMFlow's {@code DynamicLayerActivationCallback}) the
 * sampling covers all decoder layers, a layer's parameters include its norms, and the final norm stays trainable.
 *
 * <p>Full-parameter training over a quantized base is the {@code full} adapter (ΔW per linear) plus the trainable
 * embedding and head ({@code --train-base embed,head}); both are required. Frozen layers are excluded from the
 * update through {@link #isActive}, and their full adapters are frozen ({@link FullAdapter#setFrozen}) so that
 * backward skips their weight-gradient products; it still passes through them to reach earlier sampled layers.
 *
 * <p>The sample of period k = ⌊step / K⌋ is drawn from a stream seeded by (seed, k) only, so a run is reproducible
 * from its seed; the current sample is also checkpointed and restored on resume.
 */
public final class Lisa implements TrainingHook {
    private final int layers, activated, interval;
    private final long seed;
    private final TrainableAdapterSet adapters;
    private int period = -1;
    private int[] sampled = new int[0];
    private boolean[] isSampled;

    public Lisa(TrainableAdapterSet adapters, int activated, int interval, long seed) {
        requireFullTraining("lisa", adapters);
        this.layers = adapters.layerCount();
        if (activated < 1 || activated > layers) {
            throw new IllegalArgumentException("lisa: lisa_activated_layers must be in [1, " + layers + "] (the model's "
                    + "layers), got " + activated);
        }
        if (interval < 1) {
            throw new IllegalArgumentException("lisa: lisa_interval_steps must be ≥ 1, got " + interval);
        }
        this.activated = activated;
        this.interval = interval;
        this.seed = seed;
        this.adapters = adapters;
        this.isSampled = new boolean[layers];
    }

    /**
     * Layer-sampling methods train whole layers: every adapter must be {@code full}, and the embedding and head must
     * be trainable (they are always updated).
     */
    static void requireFullTraining(String method, TrainableAdapterSet adapters) {
        for (TrainableAdapter a : adapters.adapters()) {
            if (!(a instanceof FullAdapter)) {
                throw new IllegalArgumentException(method + " is full-parameter training of sampled layers: train "
                        + "with --method full (got a " + a.method() + " adapter)");
            }
        }
        if (adapters.adapters().isEmpty()) {
            throw new IllegalArgumentException(method + " needs --method full adapters on the layers' linears");
        }
        TrainableBase base = adapters.base();
        if (base == null || !base.parts().contains(TrainableBase.Part.EMBED) || !base.parts().contains(TrainableBase.Part.HEAD)) {
            throw new IllegalArgumentException(method + " always trains the embedding and the head: add "
                    + "--train-base embed,head (trainable now: " + (base == null ? "none" : base.parts()) + ")");
        }
    }

    /** The layer index of a parameter named {@code layers.N.…}, or −1 for the embedding, final norm and head. */
    static int layerOf(Parameter p) {
        String n = p.name();
        if (!n.startsWith("layers.")) {
            return -1;
        }
        int end = n.indexOf('.', "layers.".length());
        return Integer.parseInt(n.substring("layers.".length(), end));
    }

    /** γ distinct layers of [0, L) drawn uniformly from (seed, period), sorted. */
    static int[] sample(long seed, int period, int L, int gamma) {
        double[] uniform = new double[L];
        Arrays.fill(uniform, 1.0 / L);
        return sample(seed, period, uniform, gamma);
    }

    /**
     * γ distinct layers drawn one after another with probabilities p renormalised over the layers not yet drawn
     * ({@code numpy.random.choice(replace=False, p=p)}), from a stream seeded by (seed, period) only; sorted.
     */
    static int[] sample(long seed, int period, double[] p, int gamma) {
        var rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + period);
        boolean[] taken = new boolean[p.length];
        int[] out = new int[gamma];
        for (int k = 0; k < gamma; k++) {
            double left = 0;
            int lastFree = -1;
            for (int i = 0; i < p.length; i++) {
                if (!taken[i]) {
                    left += p[i];
                    lastFree = i;
                }
            }
            double u = rnd.nextDouble() * left;
            int pick = lastFree;      // rounding at the top end lands on the last free layer
            for (int i = 0; i < p.length; i++) {
                if (taken[i]) {
                    continue;
                }
                u -= p[i];
                if (u < 0) {
                    pick = i;
                    break;
                }
            }
            taken[pick] = true;
            out[k] = pick;
        }
        Arrays.sort(out);
        return out;
    }

    /** The sampled layers a checkpoint's meta lists ({@code layers=1,3}), checked against the model's layer count. */
    static int[] checkpointedLayers(String method, Map<String, String> meta, int layers) {
        String list = meta.getOrDefault("layers", "");
        int[] ls = list.isEmpty() ? new int[0] : Arrays.stream(list.split(",")).mapToInt(Integer::parseInt).toArray();
        for (int l : ls) {
            if (l < 0 || l >= layers) {
                throw new IllegalArgumentException(method + " checkpoint samples layer " + l + " of a " + layers
                        + "-layer model");
            }
        }
        return ls;
    }

    /** The layers trained during the current period (sorted). */
    public int[] sampledLayers() {
        return sampled.clone();
    }

    private void use(int newPeriod, int[] layersOfPeriod) {
        period = newPeriod;
        sampled = layersOfPeriod;
        isSampled = new boolean[layers];
        for (int l : sampled) {
            isSampled[l] = true;
        }
        freezeUnsampled(adapters, isSampled);
    }

    /** Frozen full adapters skip their weight-gradient product in backward (the layer is not updated anyway). */
    static void freezeUnsampled(TrainableAdapterSet adapters, boolean[] sampled) {
        for (int l = 0; l < sampled.length; l++) {
            for (dev.jlora.engine.adapter.Target t : dev.jlora.engine.adapter.Target.values()) {
                if (adapters.get(l, t) instanceof FullAdapter f) {
                    f.setFrozen(!sampled[l]);
                }
            }
        }
    }

    @Override
    public String name() {
        return "lisa";
    }

    @Override
    public void beforeStep(int step, int totalSteps) {
        int p = step / interval;
        if (p != period) {
            use(p, sample(seed, p, layers, activated));
        }
    }

    @Override
    public boolean isActive(Parameter p) {
        int l = layerOf(p);
        return l < 0 || isSampled[l];
    }

    @Override
    public Map<String, Object> metrics() {
        return Map.of("lisa_layers", Arrays.stream(sampled).boxed().toList());
    }

    @Override
    public Map<String, String> meta() {
        var m = new LinkedHashMap<String, String>();
        m.put("period", Integer.toString(period));
        m.put("layers", String.join(",", Arrays.stream(sampled).mapToObj(Integer::toString).toList()));
        return m;
    }

    @Override
    public void load(Map<String, float[]> state, Map<String, String> meta) {
        int p = Integer.parseInt(meta.getOrDefault("period", "-1"));
        int[] ls = checkpointedLayers("lisa", meta, layers);
        use(p, ls);
    }
}
