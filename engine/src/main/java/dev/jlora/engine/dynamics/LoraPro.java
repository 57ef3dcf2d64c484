package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.linalg.Dense;
import dev.jlora.engine.linalg.Psd;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.train.TrainingHook;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * LoRA-Pro (Wang, Liang, He, Wang &amp; Tan 2024, "LoRA-Pro: Are Low-Rank Adapters Properly Optimized?", ICLR 2025).
 * A LoRA step with gradients g_A, g_B moves W by s·(B·g_A + g_B·A), the "equivalent gradient" (§2.1). LoRA-Pro
 * replaces g_A, g_B by the pair whose equivalent gradient is closest to the full gradient g in Frobenius norm.
 * g itself is not available, but only Bᵀ·g = g_A/s and g·Aᵀ = g_B/s enter the solution (Theorem 2.1):
 *
 * <pre>
 * g_A* = (1/s²)·(BᵀB)⁻¹·g_A + X·A
 * g_B* = (1/s²)·[I − B(BᵀB)⁻¹Bᵀ]·g_B·(AAᵀ)⁻¹ − B·X
 * </pre>
 * for any X [r × r]; Theorem 2.2 picks the X that keeps (g_A*, g_B*) closest to (g_A, g_B): the solution of the
 * Sylvester equation BᵀB·X + X·AAᵀ = −(1/s²)·(BᵀB)⁻¹·g_A·Aᵀ. A = [r × IC] and B = [OC × r] as PEFT stores them.
 *
 * <p>With AdamW (§2.3, Algorithm 1; {@code lorapro_optimizer=adamw}, the default) the reference implementation
 * (github.com/mrflogs/LoRA-Pro, {@code lorapro_full_adjustment}) runs Adam on the full-size equivalent gradient:
 * (1) g̃ = s·B·g_A' + s·g_B'·A with g_A', g_B' from the closed form at X = 0; (2) full-size moments m, v [OC × IC]
 * of g̃ with bias correction give the Adam direction ĝ = m̂/(√v̂ + ε); (3) ĝ is taken as the full gradient:
 * g_A = s·Bᵀ·ĝ, g_B = s·ĝ·Aᵀ, and the closed form with the Sylvester X gives the final gradients, applied by plain
 * SGD. So this mode needs the trainer's optimizer to be {@code sgd} with momentum 0 and weight decay 0 (the reference
 * sets {@code optim="sgd"}, {@code weight_decay=0}); it costs two fp32 [OC × IC] moments per adapter, checkpointed.
 * With {@code lorapro_optimizer=sgd} only the closed form (with the Sylvester X) is applied to the raw gradients and
 * any trainer optimizer follows.
 *
 * <p>While B = 0 (the first step from PEFT's init) BᵀB is singular; as in the reference, the first step uses
 * g_A* = g_A and g_B* = (1/s²)·g_B·(AAᵀ)⁻¹. Inverses are of (M + δI) with δ = 1e-8, as the reference's pinv.
 */
public final class LoraPro implements TrainingHook {
    static final double DELTA = 1e-8;

    private record Pair(String aName, String bName, LoraAdapter lora) {}

    private final List<Pair> pairs = new ArrayList<>();
    private final boolean adam;
    private final float beta1, beta2, eps;
    private final Map<String, float[]> expAvg = new LinkedHashMap<>(), expAvgSq = new LinkedHashMap<>();
    private long adamSteps;

    public LoraPro(TrainableAdapterSet adapters, TrainConfig cfg, String optimizer) {
        adam = switch (optimizer) {
            case "adamw" -> true;
            case "sgd" -> false;
            default -> throw new IllegalArgumentException("lorapro: lorapro_optimizer must be adamw or sgd, got '"
                    + optimizer + "'");
        };
        if (adam && (!cfg.optimizer().equals("sgd") || cfg.momentum() != 0 || cfg.weightDecay() != 0)) {
            throw new IllegalArgumentException("lorapro with lorapro_optimizer=adamw runs Adam itself on the "
                    + "equivalent gradient and hands plain gradients on: train with --optimizer sgd --momentum 0 "
                    + "--weight-decay 0 (got optimizer " + cfg.optimizer() + ", momentum " + cfg.momentum()
                    + ", weight decay " + cfg.weightDecay() + "), or pass --dynamics-arg lorapro_optimizer=sgd");
        }
        this.beta1 = cfg.beta1();
        this.beta2 = cfg.beta2();
        this.eps = cfg.eps();
        for (int l = 0; l < adapters.layerCount(); l++) {
            for (Target t : Target.values()) {
                TrainableAdapter a = adapters.get(l, t);
                if (a == null) {
                    continue;
                }
                if (!(a instanceof LoraAdapter lora)) {
                    throw new IllegalArgumentException("lorapro adjusts plain LoRA's A and B; layer " + l + " "
                            + t.hfName() + " has a " + a.method() + " adapter (use --method lora)");
                }
                String pre = TrainableAdapterSet.prefix(l, t);
                pairs.add(new Pair(pre + "lora_A", pre + "lora_B", lora));
            }
        }
        if (pairs.isEmpty()) {
            throw new IllegalArgumentException("lorapro needs LoRA adapters; the adapter set is empty");
        }
    }

    @Override
    public String name() {
        return "lorapro";
    }

    @Override
    public void adjustGradients(int step, float lr, List<Parameter> active) {
        var names = new HashSet<String>();
        for (Parameter p : active) {
            names.add(p.name());
        }
        if (adam) {
            adamSteps++;
        }
        for (Pair pair : pairs) {
            if (names.contains(pair.aName()) && names.contains(pair.bName())) {
                adjust(pair);
            }
        }
    }

    private void adjust(Pair pair) {
        LoraAdapter lora = pair.lora();
        int r = lora.rank(), IC = lora.inFeatures(), OC = lora.outFeatures();
        double s = lora.scale();
        double[] a = toDouble(lora.loraA().value()), b = toDouble(lora.loraB().value());
        double[] gA = toDouble(lora.loraA().grad()), gB = toDouble(lora.loraB().grad());
        boolean bIsZero = isZero(b);
        double[][] adjusted;
        if (!adam) {
            adjusted = closedForm(a, b, gA, gB, r, IC, OC, s, bIsZero, true);
        } else {
            double[][] first = closedForm(a, b, gA, gB, r, IC, OC, s, bIsZero, false);
            double[] direction = adamDirection(pair.bName(), equivalentGradient(a, b, first[0], first[1], r, IC, OC, s), OC * IC);
            double[] fullA = scaled(Dense.mul(Dense.transpose(b, OC, r), direction, r, OC, IC), s);
            double[] fullB = scaled(Dense.mul(direction, Dense.transpose(a, r, IC), OC, IC, r), s);
            adjusted = closedForm(a, b, fullA, fullB, r, IC, OC, s, bIsZero, true);
        }
        copy(adjusted[0], lora.loraA().grad());
        copy(adjusted[1], lora.loraB().grad());
    }

    /** ĝ = m̂ / (√v̂ + ε) with m, v the full-size moments of g̃ (torch.optim.Adam's update direction). */
    private double[] adamDirection(String key, double[] equivalent, int n) {
        float[] m = expAvg.computeIfAbsent(key, k -> new float[n]), v = expAvgSq.computeIfAbsent(key, k -> new float[n]);
        double bc1 = 1 - Math.pow(beta1, adamSteps), bc2 = 1 - Math.pow(beta2, adamSteps);
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            double g = equivalent[i];
            m[i] = (float) (beta1 * m[i] + (1 - beta1) * g);
            v[i] = (float) (beta2 * v[i] + (1 - beta2) * g * g);
            out[i] = (m[i] / bc1) / (Math.sqrt(v[i] / bc2) + eps);
        }
        return out;
    }

    /**
     * Theorem 2.1 (with Theorem 2.2's X when {@code sylvesterX}, else X = 0) from gradients gA = s·Bᵀ·g, gB = s·g·Aᵀ;
     * the first-step form when B is zero. Returns {g_A*, g_B*}.
     */
    static double[][] closedForm(double[] a, double[] b, double[] gA, double[] gB, int r, int IC, int OC, double s,
                                 boolean bIsZero, boolean sylvesterX) {
        double inv2 = 1 / (s * s);
        double[] at = Dense.transpose(a, r, IC), bt = Dense.transpose(b, OC, r);
        double[] aat = Dense.mul(a, at, r, IC, r), btb = Dense.mul(bt, b, r, OC, r);
        double[] aatInv = Psd.inverseRegularized(aat, r, DELTA);
        if (bIsZero) {
            return new double[][] {gA.clone(), scaled(Dense.mul(gB, aatInv, OC, r, r), inv2)};
        }
        double[] btbInv = Psd.inverseRegularized(btb, r, DELTA);
        double[] newA = scaled(Dense.mul(btbInv, gA, r, r, IC), inv2);
        // [I − B(BᵀB)⁻¹Bᵀ]·gB without forming the OC × OC projector
        double[] proj = Dense.mul(b, Dense.mul(btbInv, Dense.mul(bt, gB, r, OC, r), r, r, r), OC, r, r);
        double[] resid = gB.clone();
        for (int i = 0; i < resid.length; i++) {
            resid[i] -= proj[i];
        }
        double[] newB = scaled(Dense.mul(resid, aatInv, OC, r, r), inv2);
        if (sylvesterX) {
            double[] x = sylvesterX(a, btb, aat, btbInv, gA, r, IC, s);
            double[] xa = Dense.mul(x, a, r, r, IC), bx = Dense.mul(b, x, OC, r, r);
            for (int i = 0; i < newA.length; i++) {
                newA[i] += xa[i];
            }
            for (int i = 0; i < newB.length; i++) {
                newB[i] -= bx[i];
            }
        }
        return new double[][] {newA, newB};
    }

    /** Theorem 2.2: X solving BᵀB·X + X·AAᵀ = −(1/s²)·(BᵀB)⁻¹·g_A·Aᵀ. */
    static double[] sylvesterX(double[] a, double[] btb, double[] aat, double[] btbInv, double[] gA, int r, int IC, double s) {
        double[] rhs = Dense.mul(Dense.mul(btbInv, gA, r, r, IC), Dense.transpose(a, r, IC), r, IC, r);
        for (int i = 0; i < rhs.length; i++) {
            rhs[i] *= -1 / (s * s);
        }
        return Psd.sylvester(btb, aat, rhs, r);
    }

    /** s·B·gA + s·gB·A [OC × IC]: the change of W a plain step with these gradients makes, per unit learning rate. */
    static double[] equivalentGradient(double[] a, double[] b, double[] gA, double[] gB, int r, int IC, int OC, double s) {
        double[] e = Dense.mul(b, gA, OC, r, IC), f = Dense.mul(gB, a, OC, r, IC);
        for (int i = 0; i < e.length; i++) {
            e[i] = s * (e[i] + f[i]);
        }
        return e;
    }

    private static double[] scaled(double[] v, double k) {
        for (int i = 0; i < v.length; i++) {
            v[i] *= k;
        }
        return v;
    }

    private static boolean isZero(double[] v) {
        for (double x : v) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    private static void copy(double[] src, float[] dst) {
        for (int i = 0; i < dst.length; i++) {
            dst[i] = (float) src[i];
        }
    }

    @Override
    public Map<String, float[]> state() {
        var out = new LinkedHashMap<String, float[]>();
        expAvg.forEach((k, v) -> out.put(k + ".exp_avg", v));
        expAvgSq.forEach((k, v) -> out.put(k + ".exp_avg_sq", v));
        return out;
    }

    @Override
    public Map<String, String> meta() {
        return Map.of("adam_steps", Long.toString(adamSteps));
    }

    @Override
    public void load(Map<String, float[]> state, Map<String, String> meta) {
        expAvg.clear();
        expAvgSq.clear();
        for (var e : state.entrySet()) {
            String k = e.getKey();
            if (k.endsWith(".exp_avg")) {
                expAvg.put(k.substring(0, k.length() - ".exp_avg".length()), e.getValue().clone());
            } else if (k.endsWith(".exp_avg_sq")) {
                expAvgSq.put(k.substring(0, k.length() - ".exp_avg_sq".length()), e.getValue().clone());
            } else {
                throw new IllegalArgumentException("lorapro state has an unknown tensor '" + k + "'");
            }
        }
        adamSteps = Long.parseLong(meta.getOrDefault("adam_steps", "0"));
    }
}
