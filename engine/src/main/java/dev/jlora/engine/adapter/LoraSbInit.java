package dev.jlora.engine.adapter;

import dev.jlora.engine.linalg.Svd;
import dev.jlora.engine.model.LlamaWeights;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * LoRA-SB's initialisation (Ponkshe et al. 2024, arXiv:2411.19557, §4 and Algorithm 1): approximate the first update
 * of full fine-tuning ΔW₁ from the gradient G = ∂L/∂W averaged over a few minibatches, take its truncated SVD
 * ΔW₁ ≈ U_r·S_r·V_rᵀ and set B = U_r, R = S_r, A = V_rᵀ (s = 1), so B·R·A is the best rank-r approximation of ΔW₁ and
 * the training starts from it. With {@code update=sign} (default) ΔW₁ = −η·sign(G), the first step of Adam
 * (m̂/√v̂ = sign(g) at step 1), which is what the authors' code computes ({@code -lr * torch.sign(grad)} over the summed
 * per-sample gradients); {@code update=sgd} uses −η·G. η is {@code init_lr} (the authors use the first warm-up step's
 * learning rate; {@code jlora train} passes its {@code --lr} when none is given). The base is left as it is, as in the
 * reference: the model starts one approximated step into fine-tuning. B and A are orthonormal, so R's gradient
 * Bᵀ·G·Aᵀ is G projected onto the subspace (§4.2).
 */
public final class LoraSbInit {
    private LoraSbInit() {}

    /** Method-arg keys and defaults. */
    public static final Map<String, String> KEYS = Map.of("init_lr", "2e-4", "update", "sign", "init_batches", "8");

    /** B, R, A from the gradients; adapters carry {@code dropout} and the init settings in their config. */
    public static AdapterFactory factory(LlamaWeights weights, Set<Target> targets, InitData data, HyperParams p) {
        int rank = p.integer("rank", 8);
        float dropout = p.real("dropout", 0);
        float lr = p.real("init_lr", 2e-4f);
        String update = p.str("update", "sign");
        if (!update.equals("sign") && !update.equals("sgd")) {
            throw new IllegalArgumentException("adapter method lorasb: 'update' must be sign or sgd, got '" + update + "'");
        }
        if (!(lr > 0) || Float.isInfinite(lr)) {
            throw new IllegalArgumentException("adapter method lorasb: 'init_lr' must be a positive number, got " + lr);
        }
        int batches = p.integer("init_batches", 8);
        var cfg = initConfig(lr, update, batches);
        var grads = WeightGradients.collect(weights, targets, data, batches);
        return (layer, target, base, rnd) -> {
            float[] g = grads.get(new InitProbe.Site(layer, target));
            var sb = new LoraSbAdapter(base.cols(), base.rows(), rank, dropout, cfg);
            init(sb, g, lr, update.equals("sign"), rnd);
            return sb;
        };
    }

    static Map<String, String> initConfig(float lr, String update, int batches) {
        var m = new LinkedHashMap<String, String>();
        m.put("init_lr", Float.toString(lr));
        m.put("update", update);
        m.put("init_batches", Integer.toString(batches));
        return m;
    }

    /** B, R, A of {@code sb} from the truncated SVD of ΔW₁ = −lr·sign(g) (or −lr·g). */
    static void init(LoraSbAdapter sb, float[] g, float lr, boolean sign, java.util.SplittableRandom rnd) {
        int OC = sb.outFeatures(), IC = sb.inFeatures(), r = sb.rank();
        double[] update = new double[g.length];
        for (int i = 0; i < g.length; i++) {
            update[i] = -lr * (sign ? Math.signum(g[i]) : g[i]);
        }
        Svd svd = Svd.truncated(update, OC, IC, r, rnd);
        float[] a = sb.loraA(), b = sb.loraB(), rm = sb.loraR().value();
        for (int j = 0; j < r; j++) {
            for (int i = 0; i < IC; i++) {
                a[j * IC + i] = (float) svd.vt()[j * IC + i];
            }
            for (int o = 0; o < OC; o++) {
                b[o * r + j] = (float) svd.u()[o * svd.k() + j];
            }
            rm[j * r + j] = (float) svd.s()[j];
        }
    }
}
