package dev.jlora.engine.prune;

import dev.jlora.engine.adapter.HyperParams;
import dev.jlora.engine.adapter.InitData;
import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.adapter.WeightGradients;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.engine.prune.StructuredMask.Kind;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * LoRAM (Zhang, Wang, Li, Shou, Chen, You, Xie, Gong &amp; Zhou 2025, "Train Small, Infer Large: Memory-Efficient LoRA
 * Training for Large Language Models", ICLR 2025): LoRA is trained on a structurally pruned copy of the frozen base,
 * so the weights training holds (and its activations) are smaller; the trained low-rank matrices are then "recovered"
 * to the original model's shape and used with the full, unpruned model for inference.
 *
 * <p>Pruning (the paper's LoRAM-Rand and LoRAM-Stru variants): head groups (a KV head with its query heads) and FFN
 * channels, as {@link StructuredMask} describes them, chosen per block either at random ({@code criterion=random},
 * seeded) or by LLM-Pruner's first-order importance ({@code criterion=taylor}: Σ|W ⊙ ∂L/∂W| over each structure's
 * elements in q, k, v, o or gate, up, down, with ∂L/∂W averaged over {@code calibration_batches} training batches;
 * the authors' scripts use LLM-Pruner's {@code param_first}). The pruned copy keeps the kept rows of Wq, Wk, Wv,
 * Wgate, Wup (and biases) and the kept columns of Wo, Wdown, re-quantized to the base's format (F32 when the new
 * width does not fit the format's blocks): the paper's QLoRAM likewise quantizes the pruned model.
 *
 * <p>Recovery (the paper's "recovered low-rank matrices"; the authors' {@code 3_recovered_low_rank_matrix_generation.py},
 * {@code zeroA}): B of q, k, v, gate, up gets the trained rows at the kept indices and zeros elsewhere; A of o and down
 * gets the trained columns at the kept indices and zeros elsewhere; the other factor is copied. The recovered ΔW is
 * thus the pruned-training ΔW on the kept rows/columns and zero at pruned positions, and it is a plain LoRA of the
 * full model (loads with {@code --adapter}, exports to PEFT).
 *
 * <p>Only the abstract and the authors' code could be read here, so no section numbers are cited. Departures,
 * said plainly: (1) the paper's optional alignment step — continual pre-training of the pruned model
 * by the publisher before LoRA training — is not done here; (2) every block is pruned at the same ratio (the
 * reference prunes a layer interval, e.g. blocks 4–78 of 80), because jlora's decoder has one head count and FFN
 * width for all blocks; (3) only plain {@code lora} adapters are trained and recovered.
 */
public final class Loram {
    /** How structures are chosen. */
    public enum Criterion { RANDOM, TAYLOR }

    private final LlamaModel full, pruned;
    private final StructuredMask mask;

    private Loram(LlamaModel full, StructuredMask mask) {
        this.full = full;
        this.mask = mask;
        this.pruned = prunedModel(full, mask);
    }

    /**
     * Prunes {@code full} by the {@code --method-arg} keys of {@code loram}: {@code ratio} (share of head groups and
     * of channels pruned per block, default 0.5), {@code criterion} (random or taylor), {@code calibration_batches}
     * (taylor: batches of {@code data} averaged, default 4). {@code data} may be null for random.
     */
    public static Loram prune(LlamaModel full, HyperParams p, long seed, InitData data) {
        double ratio = p.real("ratio", 0.5f);
        if (!(ratio > 0 && ratio < 1)) {
            throw new IllegalArgumentException("loram: ratio must be in (0, 1), got " + ratio);
        }
        String c = p.str("criterion", "random").trim().toLowerCase(Locale.ROOT);
        Criterion criterion = switch (c) {
            case "random", "rand" -> Criterion.RANDOM;
            case "taylor", "stru", "param_first" -> Criterion.TAYLOR;
            default -> throw new IllegalArgumentException("loram: criterion must be random or taylor, got '" + c + "'");
        };
        LlamaConfig cfg = full.config();
        var mask = StructuredMask.of(cfg);
        int heads = (int) (cfg.nKvHeads() * ratio), channels = (int) (cfg.hiddenDim() * ratio);
        float[][][] grads = null;
        if (criterion == Criterion.TAYLOR) {
            if (data == null) {
                throw new IllegalArgumentException("loram: criterion=taylor reads training batches; no data was given");
            }
            grads = WeightGradients.collectByLayer(full.weights(), EnumSet.allOf(Target.class), data,
                    p.integer("calibration_batches", 4));
        }
        var rnd = new SplittableRandom(seed);
        for (int l = 0; l < cfg.nLayers(); l++) {
            for (Kind k : Kind.values()) {
                int count = k == Kind.HEADS ? heads : channels;
                double[] importance = criterion == Criterion.RANDOM ? random(rnd, mask.groups(k))
                        : taylor(full.weights().layers().get(l), grads[l], mask, k);
                mask.pruneTo(l, k, count, importance);
            }
        }
        return new Loram(full, mask);
    }

    /** As {@link #prune(LlamaModel, HyperParams, long, InitData)} with an explicit mask (tests, other criteria). */
    public static Loram withMask(LlamaModel full, StructuredMask mask) {
        return new Loram(full, mask);
    }

    private static double[] random(SplittableRandom rnd, int n) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) {
            d[i] = rnd.nextDouble();
        }
        return d;
    }

    /** LLM-Pruner's element-wise first order, summed per structure over the block's modules of {@code kind}. */
    private static double[] taylor(LlamaWeights.Layer lw, float[][] grads, StructuredMask mask, Kind kind) {
        double[] sum = new double[mask.groups(kind)];
        for (Target t : Target.values()) {
            if (Kind.of(t) != kind) {
                continue;
            }
            QuantMatrix w = TrainableAdapterSet.baseWeight(lw, t);
            float[] g = grads[t.ordinal()];
            int IC = w.cols();
            float[] row = new float[IC];
            double[] s = GroupImportance.sum(mask, t, w.rows(), IC, (o, out) -> {
                w.dequantizeRow(o, row, 0);
                for (int i = 0; i < IC; i++) {
                    out[i] = Math.abs((double) row[i] * g[o * IC + i]);
                }
            });
            for (int i = 0; i < sum.length; i++) {
                sum[i] += s[i];
            }
        }
        return sum;
    }

    /** The full model it was pruned from. */
    public LlamaModel fullModel() {
        return full;
    }

    /** The smaller model LoRA trains on. */
    public LlamaModel prunedModel() {
        return pruned;
    }

    public StructuredMask mask() {
        return mask;
    }

    private static LlamaModel prunedModel(LlamaModel full, StructuredMask mask) {
        LlamaConfig c = full.config();
        int kvKept = mask.kept(0, Kind.HEADS).length, fKept = mask.kept(0, Kind.CHANNELS).length;
        for (int l = 1; l < c.nLayers(); l++) {
            if (mask.kept(l, Kind.HEADS).length != kvKept || mask.kept(l, Kind.CHANNELS).length != fKept) {
                throw new IllegalArgumentException("loram: every block must keep as many head groups and channels "
                        + "(one head count and FFN width per model); block " + l + " differs from block 0");
            }
        }
        var cfg = new LlamaConfig(c.architecture(), c.dim(), fKept, c.nLayers(), kvKept * (c.nHeads() / c.nKvHeads()),
                kvKept, c.headDim(), c.vocabSize(), c.contextLength(), c.rmsEps(), c.ropeTheta(), c.ropeScaling(),
                c.ropeInterleaved(), c.tiedEmbeddings(), c.attentionBias());
        var layers = new java.util.ArrayList<LlamaWeights.Layer>();
        for (int l = 0; l < c.nLayers(); l++) {
            LlamaWeights.Layer x = full.weights().layers().get(l);
            int[] q = mask.keptIndices(l, Target.Q, x.wq().rows()), kv = mask.keptIndices(l, Target.K, x.wk().rows());
            int[] ch = mask.keptIndices(l, Target.GATE, x.wGate().rows());
            layers.add(new LlamaWeights.Layer(x.attnNorm(), rows(x.wq(), q), rows(x.wk(), kv), rows(x.wv(), kv),
                    cols(x.wo(), mask.keptIndices(l, Target.O, x.wo().cols())), select(x.bq(), q), select(x.bk(), kv),
                    select(x.bv(), kv), x.ffnNorm(), rows(x.wGate(), ch), rows(x.wUp(), ch),
                    cols(x.wDown(), mask.keptIndices(l, Target.DOWN, x.wDown().cols()))));
        }
        var w = full.weights();
        return new LlamaModel(cfg, new LlamaWeights(w.tokenEmbedding(), layers, w.finalNorm(), w.output()),
                full.tokenizer());
    }

    private static float[] select(float[] v, int[] idx) {
        if (v == null) {
            return null;
        }
        float[] out = new float[idx.length];
        for (int i = 0; i < idx.length; i++) {
            out[i] = v[idx[i]];
        }
        return out;
    }

    private static QuantMatrix rows(QuantMatrix w, int[] keep) {
        int IC = w.cols();
        float[] dense = new float[keep.length * IC];
        for (int j = 0; j < keep.length; j++) {
            w.dequantizeRow(keep[j], dense, j * IC);
        }
        return store(w.type(), dense, keep.length, IC);
    }

    private static QuantMatrix cols(QuantMatrix w, int[] keep) {
        int IC = w.cols();
        float[] row = new float[IC], dense = new float[w.rows() * keep.length];
        for (int o = 0; o < w.rows(); o++) {
            w.dequantizeRow(o, row, 0);
            for (int j = 0; j < keep.length; j++) {
                dense[o * keep.length + j] = row[keep[j]];
            }
        }
        return store(w.type(), dense, w.rows(), keep.length);
    }

    /** In the base's format when the new width fits its blocks, else F32. */
    private static QuantMatrix store(QuantType type, float[] dense, int rows, int cols) {
        QuantType t = cols % type.blockSize() == 0 ? type : QuantType.F32;
        return t.quantize(dense, rows, cols);
    }

    /**
     * The LoRA adapters trained on {@link #prunedModel()} recovered to the full model's shape: trained values at the
     * kept rows (B of q, k, v, gate, up) or columns (A of o, down), zeros at pruned ones, the other factor copied.
     */
    public TrainableAdapterSet recover(TrainableAdapterSet trained) {
        Set<Target> targets = trained.targets();
        return TrainableAdapterSet.create(full.weights(), targets, (layer, t, base, rnd) -> {
            TrainableAdapter a = trained.get(layer, t);
            if (a == null) {
                return null;
            }
            if (!(a instanceof LoraAdapter small)) {
                throw new UnsupportedOperationException("loram recovers plain lora adapters only, not " + a.method());
            }
            var cfg = small.config();
            var big = new LoraAdapter(base.cols(), base.rows(), small.rank(), Float.parseFloat(cfg.get("alpha")),
                    Float.parseFloat(cfg.get("dropout")), Boolean.parseBoolean(cfg.get("rs_lora")));
            int r = small.rank();
            if (StructuredMask.groupsRows(t)) {
                int[] keep = mask.keptIndices(layer, t, base.rows());
                System.arraycopy(small.loraA().value(), 0, big.loraA().value(), 0, r * base.cols());
                for (int j = 0; j < keep.length; j++) {
                    System.arraycopy(small.loraB().value(), j * r, big.loraB().value(), keep[j] * r, r);
                }
            } else {
                int[] keep = mask.keptIndices(layer, t, base.cols());
                int icSmall = small.inFeatures(), ic = base.cols();
                for (int k = 0; k < r; k++) {
                    for (int j = 0; j < keep.length; j++) {
                        big.loraA().value()[k * ic + keep[j]] = small.loraA().value()[k * icSmall + j];
                    }
                }
                System.arraycopy(small.loraB().value(), 0, big.loraB().value(), 0, base.rows() * r);
            }
            return big;
        }, 0);
    }
}
