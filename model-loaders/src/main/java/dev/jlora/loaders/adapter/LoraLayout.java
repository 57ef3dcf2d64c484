package dev.jlora.loaders.adapter;

import dev.jlora.engine.adapter.DoraAdapter;
import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.loaders.TensorNames;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * What the adapter file formats share: the [OC × IC] shape of each target, the Q/K row basis of a file versus the
 * model, and building a {@link TrainableAdapterSet} from per-module LoRA tensors read from a file.
 *
 * <p>Row basis: llama.cpp's converter permutes the rows of q_proj/k_proj per head for the GGUF "llama" arch
 * ({@code convert_hf_to_gguf.py}, {@code LlamaModel.permute}); ΔW = s·B·A has the rows of B, so an adapter moves
 * between the two bases by permuting the rows of B only (as {@code convert_lora_to_gguf.py} does through
 * {@code LoraTorchTensor.permute}). A model's basis is permuted iff {@link LlamaConfig#ropeInterleaved()}; a PEFT
 * file is never permuted; a LoRA GGUF is permuted iff its architecture is one llama.cpp permutes.
 */
final class LoraLayout {
    private LoraLayout() {}

    /**
     * One module's LoRA tensors as read from a file, in the model's row basis: A [r × IC], B [OC × r], and for DoRA
     * the magnitude m [OC] (null for LoRA).
     */
    record Module(int layer, Target target, int rank, float[] a, float[] b, float alpha, float[] magnitude) {
        Module(int layer, Target target, int rank, float[] a, float[] b, float alpha) {
            this(layer, target, rank, a, b, alpha, null);
        }
    }

    /** [OC, IC] of the linear layer {@code t} in a model of shape {@code cfg}. */
    static int[] shape(LlamaConfig cfg, Target t) {
        int C = cfg.dim(), F = cfg.hiddenDim();
        return switch (t) {
            case Q -> new int[] {cfg.qDim(), C};
            case K, V -> new int[] {cfg.kvDim(), C};
            case O -> new int[] {C, cfg.qDim()};
            case GATE, UP -> new int[] {F, C};
            case DOWN -> new int[] {C, F};
        };
    }

    /** Whether llama.cpp's converter permutes Q/K rows for this GGUF architecture (RoPE on adjacent pairs). */
    static boolean ggufPermutes(String architecture) {
        return switch (architecture) {
            case "llama", "mistral", "granite", "deci" -> true;
            default -> false;
        };
    }

    /**
     * B [OC × r] of a rotary target moved from a basis ({@code fromPermuted}) to another ({@code toPermuted});
     * other targets, and equal bases, return {@code b} itself.
     */
    static float[] moveRows(float[] b, Target t, LlamaConfig cfg, int rank, boolean fromPermuted, boolean toPermuted) {
        if (fromPermuted == toPermuted || !TensorNames.isRotary(t)) {
            return b;
        }
        int rows = shape(cfg, t)[0];
        return toPermuted ? TensorNames.permuteRowsToGguf(b, rows, rank, cfg.headDim())
                : TensorNames.permuteRowsToHf(b, rows, rank, cfg.headDim());
    }

    /**
     * A LoRA adapter set with the given modules' values. A (layer, target) of {@code targets} with no module in the
     * file (PEFT's {@code layers_to_transform}) gets a zero adapter, ΔW = 0, and a warning.
     *
     * @param rsLora whether the scale is alpha / √r; {@code dropout} is kept for further training
     */
    static TrainableAdapterSet build(Path file, LlamaWeights weights, LlamaConfig cfg, Map<String, Module> modules,
                                     Set<Target> targets, boolean rsLora, float dropout, int defaultRank,
                                     float defaultAlpha, Consumer<String> warn) throws ModelFormatException {
        return build(file, weights, cfg, modules, targets, rsLora, dropout, defaultRank, defaultAlpha, false, warn);
    }

    /** As above; with {@code dora}, every module is DoRA (Liu et al. 2024) with its magnitude vector. */
    static TrainableAdapterSet build(Path file, LlamaWeights weights, LlamaConfig cfg, Map<String, Module> modules,
                                     Set<Target> targets, boolean rsLora, float dropout, int defaultRank,
                                     float defaultAlpha, boolean dora, Consumer<String> warn) throws ModelFormatException {
        if (modules.isEmpty()) {
            throw ModelFormatException.of(file, "holds no LoRA tensors");
        }
        Set<Target> ts = EnumSet.copyOf(targets);
        int missing = 0;
        for (int l = 0; l < cfg.nLayers(); l++) {
            for (Target t : ts) {
                if (!modules.containsKey(key(l, t))) {
                    missing++;
                }
            }
        }
        if (missing > 0) {
            warn.accept(file.getFileName() + ": " + missing + " of " + cfg.nLayers() * ts.size()
                    + " (layer, module) pairs have no LoRA tensors; they get ΔW = 0");
        }
        try {
            return TrainableAdapterSet.create(weights, ts, (layer, t, base, rnd) -> {
                Module m = modules.get(key(layer, t));
                int r = m == null ? defaultRank : m.rank();
                float alpha = m == null ? defaultAlpha : m.alpha();
                if (dora) {
                    var d = new DoraAdapter(base, r, alpha, dropout, rsLora);
                    if (m != null) {
                        System.arraycopy(m.a(), 0, d.loraA().value(), 0, m.a().length);
                        System.arraycopy(m.b(), 0, d.loraB().value(), 0, m.b().length);
                        System.arraycopy(m.magnitude(), 0, d.magnitude().value(), 0, m.magnitude().length);
                    } else {
                        // A = B = 0: W' = m ⊙ W / ‖W‖ is W when m = ‖W‖ per row
                        float[] row = new float[base.cols()], mv = d.magnitude().value();
                        for (int o = 0; o < base.rows(); o++) {
                            base.dequantizeRow(o, row, 0);
                            double ss = 0;
                            for (float v : row) {
                                ss += (double) v * v;
                            }
                            mv[o] = (float) Math.sqrt(ss);
                        }
                    }
                    return d;
                }
                var a = new LoraAdapter(base.cols(), base.rows(), r, alpha, dropout, rsLora);
                if (m != null) {
                    System.arraycopy(m.a(), 0, a.loraA().value(), 0, m.a().length);
                    System.arraycopy(m.b(), 0, a.loraB().value(), 0, m.b().length);
                }
                return a;
            }, 0);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file.getFileName() + ": " + e.getMessage(), e);
        }
    }

    static String key(int layer, Target t) {
        return layer + "." + t.name();
    }

    /** The adapter on (layer, t) as LoRA, or an error naming the method that this format cannot hold. */
    static LoraAdapter lora(TrainableAdapter a, String format) {
        if (a instanceof LoraAdapter l) {
            return l;
        }
        throw new UnsupportedOperationException(format + " export of adapter method '" + a.method()
                + "' is not implemented; only plain LoRA/rsLoRA can be written as " + format
                + (a.method().equals("dora") ? " (llama.cpp has no DoRA: merge it with 'jlora merge', or export PEFT)" : ""));
    }

    /** lora_alpha of a LoRA or DoRA adapter (from its config). */
    static float alpha(TrainableAdapter a) {
        return Float.parseFloat(a.config().get("alpha"));
    }

    static boolean rsLora(TrainableAdapter a) {
        return Boolean.parseBoolean(a.config().get("rs_lora"));
    }

    static float dropout(TrainableAdapter a) {
        return Float.parseFloat(a.config().get("dropout"));
    }

    static int rank(TrainableAdapter a) {
        return Integer.parseInt(a.config().get("rank"));
    }
}
