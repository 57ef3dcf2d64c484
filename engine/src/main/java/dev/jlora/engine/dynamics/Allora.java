package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.train.TrainingHook;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * ALLoRA (Huang &amp; Balestriero 2024, "ALLoRA: Adaptive Learning Rate Mitigates LoRA Fatal Flaws", §4): LoRA without
 * dropout and without the scaling factor, whose every row θ of A and B moves with a learning rate inversely
 * proportional to its norm, lr·1/√(‖θ‖² + 1/η²). A row at 0 (all of B at initialisation) moves η times faster,
 * which removes the slow escape from B = 0 that dropout and the scaling factor make worse; as a row grows its steps
 * shrink, which bounds the interaction between layers that the scaling factor was tuning. η is the method's one
 * hyper-parameter ({@code allora_eta}; our default 4 is not a paper value). Rows are the stored rows: A [r × IC] has
 * one per rank component, B [OC × r] one per output feature.
 *
 * <p>Sources, said plainly: §4's equation could not be read here (only the abstract and other people's code). The
 * abstract fixes the asymptote — the per-parameter gradients are scaled "with a coefficient inversely proportional
 * to parameters' ℓ2 norm", which 1/√(‖θ‖² + 1/η²) is for large rows — and a public re-implementation (the
 * Automagic optimizers, citing arXiv 2410.09692) applies a factor per row of every 2-D LoRA tensor with η entering
 * as 1/η², as here. That code writes 1/√(‖θ‖ + 1/η²), the norm unsquared, which would make the factor fall like
 * 1/√‖θ‖ and contradict the abstract; we keep the squared norm.
 *
 * <p>Composition with the optimizer. The paper writes the rule as a scaling of the per-parameter gradients under
 * SGD, where scaling the gradient and scaling the learning rate are the same: with {@code --optimizer sgd} the
 * gradient rows are multiplied by the factor before the step (so momentum accumulates scaled gradients; SGD's L2
 * term, added by the optimizer afterwards, is not scaled). AdamW
 * normalises each coordinate by its gradient's running magnitude, which would cancel a gradient scale, so with
 * {@code --optimizer adamw} the factor multiplies each row's update instead (the learning rate proper, decoupled
 * weight decay included, as PyTorch scales decay by the group's lr): the values before the step are kept and
 * the row's change is rescaled after it. The factor uses the row's norm before the step, in both cases.
 *
 * <p>The method implies dropout 0 and scaling 1 (alpha = rank, or alpha = √rank with rsLoRA): adapters configured
 * otherwise are refused with a message saying which flags to pass.
 */
public final class Allora implements TrainingHook {
    private final double invEta2;
    private final boolean scaleUpdates;
    private final Set<String> rowScaled = new HashSet<>();
    private final Map<String, float[]> before = new HashMap<>();
    private List<Parameter> stepped = List.of();

    public Allora(TrainableAdapterSet adapters, TrainConfig cfg, double eta) {
        if (!(eta > 0) || !Double.isFinite(eta)) {
            throw new IllegalArgumentException("allora: allora_eta must be a positive number, got " + eta);
        }
        this.invEta2 = 1 / (eta * eta);
        this.scaleUpdates = cfg.optimizer().equals("adamw");
        for (int l = 0; l < adapters.layerCount(); l++) {
            for (Target t : Target.values()) {
                TrainableAdapter a = adapters.get(l, t);
                if (a == null) {
                    continue;
                }
                if (!(a instanceof LoraAdapter lora)) {
                    throw new IllegalArgumentException("allora applies to plain LoRA (A and B rows); layer " + l + " "
                            + t.hfName() + " has a " + a.method() + " adapter (use --method lora)");
                }
                float dropout = Float.parseFloat(lora.config().get("dropout"));
                if (lora.scale() != 1f || dropout != 0f) {
                    throw new IllegalArgumentException("allora removes LoRA's dropout and scaling factor: train with "
                            + "--dropout 0 and --alpha " + lora.rank() + " (= --rank, so alpha/rank = 1; got dropout "
                            + dropout + ", scale " + lora.scale() + ")");
                }
                String pre = TrainableAdapterSet.prefix(l, t);
                rowScaled.add(pre + "lora_A");
                rowScaled.add(pre + "lora_B");
            }
        }
        if (rowScaled.isEmpty()) {
            throw new IllegalArgumentException("allora needs LoRA adapters; the adapter set is empty");
        }
    }

    @Override
    public String name() {
        return "allora";
    }

    /** 1/√(‖θ‖² + 1/η²) of each row of p (shape [rows × cols]). */
    double[] rowFactors(Parameter p) {
        int rows = p.shape()[0], cols = p.size() / rows;
        float[] v = p.value();
        double[] f = new double[rows];
        for (int i = 0; i < rows; i++) {
            double ss = 0;
            for (int j = 0; j < cols; j++) {
                ss += (double) v[i * cols + j] * v[i * cols + j];
            }
            f[i] = 1 / Math.sqrt(ss + invEta2);
        }
        return f;
    }

    @Override
    public void adjustGradients(int step, float lr, List<Parameter> active) {
        var mine = active.stream().filter(p -> rowScaled.contains(p.name())).toList();
        if (!scaleUpdates) {
            for (Parameter p : mine) {
                double[] f = rowFactors(p);
                int cols = p.size() / f.length;
                for (int i = 0; i < p.size(); i++) {
                    p.grad()[i] *= (float) f[i / cols];
                }
            }
            return;
        }
        before.clear();
        for (Parameter p : mine) {
            before.put(p.name(), p.value().clone());
        }
        stepped = mine;
    }

    @Override
    public void afterStep(int step) {
        if (!scaleUpdates) {
            return;
        }
        for (Parameter p : stepped) {
            float[] old = before.get(p.name());
            float[] now = p.value();
            int rows = p.shape()[0], cols = p.size() / rows;
            // the factor of the pre-step row: θ_new = θ_old + f(θ_old)·(adamw(θ_old) − θ_old)
            double[] f = rowFactors(new Parameter(p.name(), p.shape(), old, p.grad()));
            for (int i = 0; i < rows * cols; i++) {
                now[i] = (float) (old[i] + f[i / cols] * ((double) now[i] - old[i]));
            }
        }
        before.clear();
        stepped = List.of();
    }
}
