package dev.jlora.engine.adapter;

import dev.jlora.engine.model.LlamaWeights;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * MixLoRA (Li et al. 2024, "MixLoRA: Enhancing Large Language Models Fine-Tuning with LoRA-based Mixture of
 * Experts", §3): the FFN of each block becomes a top-k mixture of E experts, expert e being the shared frozen SwiGLU
 * FFN with its own LoRA on gate, up and down: FFN_e(x) = (W_down + ΔD_e)·(silu((W_gate + ΔG_e)·x) ⊙ (W_up + ΔU_e)·x),
 * out = Σ_{e ∈ top-k} ŵ_e·FFN_e(x) with ŵ the router softmax renormalised over the top k (§3.1, Eq. 4–5). The router
 * is trained with the load-balancing loss of §3.2 (Eq. 6, Switch/Mixtral form): coef·E·Σ_e f_e·P̄_e with f_e the
 * fraction of tokens whose top-k contains e and P̄_e the mean router probability (coefficient 0.01 as the reference
 * implementation MoE-PEFT's {@code router_aux_loss_coef}). The attention LoRA of §3.3 is {@code MixLoraAttention}.
 *
 * <p>As in MoE-PEFT's efficient operator, W_gate·x and W_up·x are computed once for all tokens (they are shared by
 * every expert); each expert then runs its LoRA deltas and one W_down matmul on its own gathered tokens.
 *
 * <p>Occupies the {@link Target#DOWN} slot as an {@link FfnAdapter} (in = hidden, out = dim, the down projection's
 * shape); called as a per-linear adapter it throws, since it replaces the whole FFN. Not mergeable: the routing
 * depends on the token.
 */
public final class MixLoraAdapter implements TrainableAdapter, FfnAdapter, RoutedAdapter {
    private static final String[] PROJ = {"gate_proj", "up_proj", "down_proj"};
    private final int C, F, r, topK;
    private final float alpha, dropout, auxCoef;
    private final Router router;
    private final LoraAdapter[][] experts;    // [E][gate, up, down]
    private final ExpertSelection selection;
    private float auxGradScale = 1f;
    private RoutingStats stats;

    /** Per expert: its LoRAs' saved states and the activations of its tokens. */
    private record ExpertActs(TrainableAdapter.Saved[] lora, float[] g, float[] u, float[] act, float[] d) {}

    private record Saved(Routing routing, ExpertActs[] experts, double auxLoss) implements TrainableAdapter.Saved {}

    public MixLoraAdapter(int dim, int hidden, int rank, int numExperts, int topK, float alpha, float dropout,
                          float auxCoef) {
        if (topK < 1 || topK > numExperts) {
            throw new IllegalArgumentException("mixlora: top_k must be in 1.." + numExperts + ", got " + topK);
        }
        this.C = dim;
        this.F = hidden;
        this.r = rank;
        this.topK = topK;
        this.alpha = alpha;
        this.dropout = dropout;
        this.auxCoef = auxCoef;
        this.router = new Router(dim, numExperts);
        this.experts = new LoraAdapter[numExperts][];
        for (int e = 0; e < numExperts; e++) {
            experts[e] = new LoraAdapter[] {new LoraAdapter(dim, hidden, rank, alpha, dropout, false),
                    new LoraAdapter(dim, hidden, rank, alpha, dropout, false),
                    new LoraAdapter(hidden, dim, rank, alpha, dropout, false)};
        }
        this.selection = ExpertSelection.topK(topK);
        this.stats = new RoutingStats(numExperts);
    }

    /** Router N(0, 0.02²) (MoE-PEFT's {@code router_init_range}) and every expert LoRA as PEFT's LoRA. */
    public void initialize(SplittableRandom rnd) {
        router.initNormal(rnd, 0.02);
        for (LoraAdapter[] ex : experts) {
            for (LoraAdapter l : ex) {
                l.initKaimingUniform(rnd);
            }
        }
    }

    @Override
    public String method() {
        return "mixlora";
    }

    @Override
    public int inFeatures() {
        return F;
    }

    @Override
    public int outFeatures() {
        return C;
    }

    @Override
    public List<Parameter> parameters() {
        var out = new ArrayList<Parameter>();
        out.add(router.gate());
        for (int e = 0; e < experts.length; e++) {
            for (int j = 0; j < 3; j++) {
                for (Parameter p : experts[e][j].parameters()) {
                    out.add(p.renamed("experts." + e + "." + PROJ[j] + "." + p.name()));
                }
            }
        }
        return out;
    }

    @Override
    public Map<String, String> config() {
        return MixLoraAttention.mixloraConfig(r, alpha, dropout, experts.length, topK, auxCoef);
    }

    @Override
    public void setAuxGradScale(float scale) {
        this.auxGradScale = scale;
    }

    @Override
    public RoutingStats drainStats() {
        RoutingStats s = stats;
        stats = new RoutingStats(experts.length);
        return s;
    }

    @Override
    public void forwardFfn(LlamaWeights.Layer layer, float[] x, int T, float[] out) {
        run(layer, x, T, out, false, 0);
    }

    @Override
    public TrainableAdapter.Saved forwardFfnTrain(LlamaWeights.Layer layer, float[] x, int T, float[] out, long seed) {
        return run(layer, x, T, out, true, seed);
    }

    /** out = Σ_e ŵ_e·FFN_e(x) over each token's top-k; saves the experts' activations when {@code train}. */
    private Saved run(LlamaWeights.Layer layer, float[] x, int T, float[] out, boolean train, long seed) {
        Routing routing = router.route(x, T, selection, null);
        float[] g0 = new float[T * F], u0 = new float[T * F];
        layer.wGate().matmul(x, T, g0);
        layer.wUp().matmul(x, T, u0);
        java.util.Arrays.fill(out, 0, T * C, 0f);
        int E = experts.length;
        var acts = new ExpertActs[E];
        for (int e = 0; e < E; e++) {
            int[] tok = routing.tokensOf()[e];
            int n = tok.length;
            if (n == 0) {
                continue;
            }
            float[] xe = Routing.gatherAll(x, tok, C, T);
            float[] g = Routing.gatherRows(g0, tok, F), u = Routing.gatherRows(u0, tok, F);
            var saved = new TrainableAdapter.Saved[3];
            float[] act = new float[n * F], d = new float[n * C];
            if (train) {
                saved[0] = experts[e][0].forwardTrain(xe, n, g, expertSeed(seed, e, 0));
                saved[1] = experts[e][1].forwardTrain(xe, n, u, expertSeed(seed, e, 1));
            } else {
                experts[e][0].forward(xe, n, g);
                experts[e][1].forward(xe, n, u);
            }
            swiglu(act, g, u);
            layer.wDown().matmul(act, n, d);
            if (train) {
                saved[2] = experts[e][2].forwardTrain(act, n, d, expertSeed(seed, e, 2));
            } else {
                experts[e][2].forward(act, n, d);
            }
            float[] w = routing.weights();
            for (int i = 0; i < n; i++) {
                float we = w[tok[i] * E + e];
                for (int c = 0; c < C; c++) {
                    out[tok[i] * C + c] += we * d[i * C + c];
                }
            }
            if (train) {
                acts[e] = new ExpertActs(saved, g, u, act, d);
            }
        }
        return new Saved(routing, acts, train ? auxLoss(routing, null) : 0);
    }

    @Override
    public void backwardFfn(LlamaWeights.Layer layer, float[] x, int T, float[] dout, TrainableAdapter.Saved saved,
                            float[] dx) {
        if (!(saved instanceof Saved s)) {
            throw new IllegalArgumentException("mixlora backward needs the state its own forward returned, got " + saved);
        }
        Routing routing = s.routing();
        int E = experts.length;
        float[] w = routing.weights(), dWeights = new float[T * E];
        float[] dg0 = new float[T * F], du0 = new float[T * F];
        for (int e = 0; e < E; e++) {
            int[] tok = routing.tokensOf()[e];
            int n = tok.length;
            if (n == 0) {
                continue;
            }
            ExpertActs a = s.experts()[e];
            float[] dd = Routing.gatherRows(dout, tok, C);
            for (int i = 0; i < n; i++) {
                float dot = 0f, we = w[tok[i] * E + e];
                for (int c = 0; c < C; c++) {
                    dot += dd[i * C + c] * a.d()[i * C + c];
                    dd[i * C + c] *= we;                       // now ∂L/∂d = ŵ·dout
                }
                dWeights[tok[i] * E + e] += dot;
            }
            float[] dact = new float[n * F];
            layer.wDown().matmulBackwardInput(dd, n, dact);
            experts[e][2].backward(a.act(), n, dd, a.lora()[2], dact);
            float[] dg = new float[n * F], du = new float[n * F];
            swigluBackward(dg, du, dact, a.g(), a.u());
            Routing.scatterAdd(dg, tok, F, dg0);
            Routing.scatterAdd(du, tok, F, du0);
            float[] xe = Routing.gatherAll(x, tok, C, T);
            float[] dxe = new float[n * C];
            experts[e][0].backward(xe, n, dg, a.lora()[0], dxe);
            experts[e][1].backward(xe, n, du, a.lora()[1], dxe);
            Routing.scatterAdd(dxe, tok, C, dx);
        }
        layer.wGate().matmulBackwardInput(dg0, T, dx);
        layer.wUp().matmulBackwardInput(du0, T, dx);
        float[] dProbs = new float[T * E];
        auxLoss(routing, dProbs);
        router.backward(x, T, routing, true, dWeights, dProbs, dx);
        stats.record(routing, s.auxLoss());
    }

    /** MixLoRA's load-balancing loss (Eq. 6): coef·E·Σ_e (top-k count_e / T)·P̄_e. */
    private double auxLoss(Routing r, float[] dProbs) {
        return BalanceLosses.switchLoad(r.probs(), r.chosen(), r.T(), r.T(), r.E(), auxCoef, dProbs, auxGradScale);
    }

    /** act = silu(g) ⊙ u, silu(g) = g·σ(g); plain loops so that results do not depend on the JIT tier. */
    static void swiglu(float[] act, float[] g, float[] u) {
        for (int i = 0; i < act.length; i++) {
            float sig = (float) (1 / (1 + Math.exp(-g[i])));
            act[i] = g[i] * sig * u[i];
        }
    }

    /** Overwrites dg, du: du = dact·silu(g); dg = dact·u·σ(g)·(1 + g·(1 − σ(g))). */
    static void swigluBackward(float[] dg, float[] du, float[] dact, float[] g, float[] u) {
        for (int i = 0; i < dact.length; i++) {
            float sig = (float) (1 / (1 + Math.exp(-g[i])));
            du[i] = dact[i] * g[i] * sig;
            dg[i] = dact[i] * u[i] * sig * (1 + g[i] * (1 - sig));
        }
    }

    private static long expertSeed(long seed, int expert, int proj) {
        return TrainableAdapterSet.mix(seed, expert * 3L + proj);
    }

    @Override
    public void forward(float[] x, int T, float[] y) {
        throw wholeFfn();
    }

    @Override
    public TrainableAdapter.Saved forwardTrain(float[] x, int T, float[] y, long dropoutSeed) {
        throw wholeFfn();
    }

    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        throw wholeFfn();
    }

    private static UnsupportedOperationException wholeFfn() {
        return new UnsupportedOperationException("mixlora replaces the whole FFN (FfnAdapter): call forwardFfn, "
                + "not the forward of a single down_proj adapter");
    }

    @Override
    public void mergeInto(float[] w) {
        throw new UnsupportedOperationException("mixlora routes each token to its own FFN experts, so it cannot be "
                + "merged into W; serve it unmerged (jlora generate --adapter)");
    }
}
