package dev.jlora.engine.adapter;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The machinery every per-linear mixture of LoRA experts shares: a {@link Router} over x, an
 * {@link ExpertSelection}, {@link LoraExperts} batched by expert, an auxiliary (balancing) loss, and routing
 * statistics. Subclasses are the methods (LoRAMoE, MoLA, SMoRA, DynMoLE, MeteoRA with frozen experts): they choose
 * the selection, the loss and the hyper-parameters they write into {@link #config()}. MixLoRA (whole-FFN experts,
 * {@link FfnAdapter}) and X-LoRA (scalings from a scaling pass, {@link XLoraModel}) reuse the router, expert and
 * routing pieces without this class.
 *
 * <p>Auxiliary loss design: {@link #forwardTrain} computes the loss from the routing and {@link #backward} adds its
 * gradient (×{@link #setAuxGradScale}, the trainer's 1/accumulation steps, which the {@code MixtureRouting} training
 * hook sets each step) to the router's probabilities, so the gradient reaches the router and, through x, every
 * earlier layer, as autograd does in the reference implementations. Values and routing statistics are accumulated
 * in backward (called once per micro-batch even when activation checkpointing repeats the forward) and read by the
 * hook with {@link #drainStats()}, which reports the loss (added to the logged loss) and the statistics in
 * {@code metrics.jsonl}.
 *
 * <p>Routing depends on the token, so a mixture cannot be folded into W: {@link #mergeInto} throws.
 */
public abstract class LoraMixture extends LinearLayerAdapter implements RoutedAdapter {
    protected final int rank;
    protected final float alpha, dropout;
    protected final Router router;
    protected final LoraExperts experts;
    private final ExpertSelection selection;
    private float auxGradScale = 1f;
    private RoutingStats stats;

    private record Saved(InputDropout drop, Routing routing, LoraExperts.Saved experts, double auxLoss)
            implements TrainableAdapter.Saved {}

    /** Experts of rank {@code rank} scaled by alpha / rank, as LoRA. */
    protected LoraMixture(int inFeatures, int outFeatures, int rank, int experts, float alpha, float dropout,
                          ExpertSelection selection) {
        this(inFeatures, outFeatures, rank, experts, alpha, alpha / rank, dropout, selection);
    }

    protected LoraMixture(int inFeatures, int outFeatures, int rank, int experts, float alpha, float scale,
                          float dropout, ExpertSelection selection) {
        super("LoRA mixture", inFeatures, outFeatures);
        InputDropout.checkRate(getClass().getSimpleName(), dropout);
        this.rank = rank;
        this.alpha = alpha;
        this.dropout = dropout;
        this.router = new Router(inFeatures, experts);
        this.experts = new LoraExperts(inFeatures, outFeatures, rank, experts, scale);
        this.selection = selection;
        this.stats = new RoutingStats(experts);
    }

    /** Router N(0, 0.02²) and experts as LoRA (A kaiming-uniform, B = 0): the reference implementation's init. */
    public void initialize(java.util.SplittableRandom rnd) {
        router.initNormal(rnd, 0.02);
        experts.initKaimingUniform(rnd);
    }

    /** Number of experts E. */
    public int expertCount() {
        return router.experts();
    }

    /**
     * The auxiliary loss of one routing (0 when the method has none). When {@code dProbs} is not null, adds
     * scale·∂loss/∂p [T × E] into it.
     */
    protected abstract double auxLoss(Routing r, float[] dProbs, float scale);

    /** A bias added to the probabilities when choosing experts only (SMoRA), or null. */
    protected float[] selectionBias() {
        return null;
    }

    ExpertSelection selection() {
        return selection;
    }

    /** Whether the experts train (false for methods that mix frozen, pre-trained adapters). */
    protected boolean expertsTrainable() {
        return true;
    }

    @Override
    public void setAuxGradScale(float scale) {
        this.auxGradScale = scale;
    }

    @Override
    public RoutingStats drainStats() {
        RoutingStats s = stats;
        stats = new RoutingStats(router.experts());
        return s;
    }

    @Override
    public List<Parameter> parameters() {
        var out = new ArrayList<Parameter>();
        out.add(router.gate());
        if (expertsTrainable()) {
            out.addAll(experts.parameters());
        }
        return out;
    }

    /** Frozen experts (mixtures of pre-trained adapters) are buffers, saved with the file. */
    @Override
    public Map<String, float[]> buffers() {
        var m = new LinkedHashMap<String, float[]>();
        if (!expertsTrainable()) {
            for (Parameter p : experts.parameters()) {
                m.put(p.name(), p.value());
            }
        }
        return m;
    }

    /** The keys every mixture writes: method, rank, alpha, dropout, num_experts; subclasses add their own. */
    protected Map<String, String> baseConfig() {
        var m = new LinkedHashMap<String, String>();
        m.put("method", method());
        m.put("rank", Integer.toString(rank));
        m.put("alpha", Float.toString(alpha));
        m.put("dropout", Float.toString(dropout));
        return m;
    }

    @Override
    public void forward(float[] x, int T, float[] y) {
        Routing r = router.route(x, T, selection, selectionBias());
        experts.forward(x, T, r, y);
    }

    @Override
    public TrainableAdapter.Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed) {
        InputDropout drop = InputDropout.apply(x, T * IC, dropout, dropoutSeed);
        Routing r = router.route(x, T, selection, selectionBias());
        var saved = experts.forward(drop.xd(), T, r, y);
        return new Saved(drop, r, saved, auxLoss(r, null, 0f));
    }

    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException(method() + " backward needs the state its own forwardTrain returned, got "
                    + saved);
        }
        Routing r = s.routing();
        int E = router.experts();
        float[] dWeights = new float[T * E];
        float[] dxd = dx == null ? null : new float[T * IC];
        experts.backward(s.drop().xd(), T, dy, r, s.experts(), expertsTrainable(), dWeights, dxd);
        if (dxd != null) {
            s.drop().backward(dxd, dx);
        }
        float[] dProbs = new float[T * E];
        auxLoss(r, dProbs, auxGradScale);
        router.backward(x, T, r, selection.renormalize(), dWeights, dProbs, dx);
        stats.record(r, s.auxLoss());
    }

    @Override
    public void mergeInto(float[] w) {
        throw new UnsupportedOperationException(method() + " routes each token to its own experts, so its update "
                + "depends on the input and cannot be merged into W; serve it unmerged (jlora generate --adapter)");
    }
}
