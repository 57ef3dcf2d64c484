package dev.jlora.engine.adapter;

import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Adapters together with the frozen weights they sit beside. For initialisations that move part of W into the
 * adapter (PiSSA, OLoRA) the base of every adapted layer is the residual, stored again in the original layer's type;
 * {@link #weights()} is then a new {@link LlamaWeights} whose layers share every other matrix with the original.
 * Training and generation must use these weights with these adapters: the adapters alone are not a delta on the
 * original model (see {@link #residuals()}).
 *
 * @param residuals    one entry per replaced layer weight, in (layer, target) order; empty when the base is unchanged
 * @param original     the weights before replacement (the same object as {@code weights} when nothing was replaced)
 * @param initialState a copy of the adapters' state at step 0 when bases were replaced (for {@link #deltaOnOriginal}),
 *                     else empty
 */
public record AdaptedModel(LlamaWeights weights, TrainableAdapterSet adapters, List<Residual> residuals,
                           LlamaWeights original, Map<String, float[]> initialState) {

    /**
     * How well residual + adapter reproduce the original weight at step 0.
     *
     * @param relativeError ‖W_res' + ΔW − W‖_F / ‖W‖_F, with W_res' the residual as stored (after re-quantization) and
     *                      ΔW the adapter's own {@link TrainableAdapter#mergeInto}; fp32 rounding only for F32 bases
     */
    public record Residual(int layer, Target target, QuantType type, double relativeError) {}

    public AdaptedModel {
        residuals = List.copyOf(residuals);
        initialState = Map.copyOf(initialState);
    }

    /**
     * Creates adapters on {@code targets} of every block (streams per (layer, target) as
     * {@link TrainableAdapterSet#create}) and replaces each base the factory returns a residual for, quantized by
     * {@code requantizer} to the type of the weight it replaces.
     *
     * @param requantizer may be null only if the factory never returns a residual
     */
    public static AdaptedModel create(LlamaWeights weights, Set<Target> targets, ResidualAdapterFactory factory,
                                      long seed, Requantizer requantizer) {
        Map<Integer, QuantMatrix> replacedOf = Collections.synchronizedMap(new HashMap<>());
        AdapterFactory collecting = (layer, target, base, rnd) -> {
            var c = factory.create(layer, target, base, rnd);
            if (c.residual() == null) {
                return c.adapter();
            }
            if (c.residual().length != base.rows() * base.cols()) {
                throw new IllegalArgumentException("residual for layer " + layer + " " + target.hfName() + " has "
                        + c.residual().length + " values, expected " + base.rows() + "×" + base.cols());
            }
            if (requantizer == null) {
                throw new IllegalArgumentException("this initialisation replaces the base weights; a Requantizer is "
                        + "needed to store the residuals in the base's type");
            }
            QuantMatrix replaced = requantizer.quantize(base.type(), c.residual(), base.rows(), base.cols());
            if (replaced.rows() != base.rows() || replaced.cols() != base.cols()) {
                throw new IllegalStateException("requantizer returned " + replaced.rows() + "×" + replaced.cols()
                        + " for the " + base.rows() + "×" + base.cols() + " weight of layer " + layer + " "
                        + target.hfName());
            }
            replacedOf.put(key(layer, target), replaced);
            return c.onStoredBase() == null ? c.adapter() : c.onStoredBase().apply(replaced);
        };
        var adapters = TrainableAdapterSet.create(weights, targets, collecting, seed);
        if (replacedOf.isEmpty()) {
            return new AdaptedModel(weights, adapters, List.of(), weights, Map.of());
        }
        var layers = new ArrayList<LlamaWeights.Layer>();
        var report = new ArrayList<Residual>();
        for (int l = 0; l < weights.layers().size(); l++) {
            LlamaWeights.Layer layer = weights.layers().get(l);
            for (Target t : Target.values()) {
                QuantMatrix replaced = replacedOf.get(key(l, t));
                if (replaced == null) {
                    continue;
                }
                QuantMatrix old = TrainableAdapterSet.baseWeight(layer, t);
                report.add(new Residual(l, t, replaced.type(), relativeError(old, replaced, adapters.get(l, t))));
                layer = withWeight(layer, t, replaced);
            }
            layers.add(layer);
        }
        var replacedWeights = new LlamaWeights(weights.tokenEmbedding(), layers, weights.finalNorm(), weights.output());
        var initial = new HashMap<String, float[]>();
        adapters.state().forEach((k, v) -> initial.put(k, v.clone()));
        return new AdaptedModel(replacedWeights, adapters, report, weights, initial);
    }

    /**
     * The trained adapters as a delta on the original weights: for each replaced layer, W_res + s·B·A =
     * W + s·B·A − s·B₀·A₀, i.e. LoRA of rank 2r with A' = [A; A₀] and B' = [B, −B₀] and alpha chosen to keep s
     * (PEFT's conversion of PiSSA/OLoRA adapters, {@code path_initial_model_for_weight_conversion}). Exact except
     * for the re-quantization error of the residual ({@link #residuals()}). DoRA converts the same way, keeping its
     * magnitude (the row norms of the stacked update on W are those on the residual). KaSA adapters convert themselves
     * ({@link KasaAdapter#onOriginalWeights}: ΔW minus the removed singular components). Without replaced bases, the
     * adapters themselves. Other methods cannot be converted.
     */
    public TrainableAdapterSet deltaOnOriginal() {
        if (residuals.isEmpty()) {
            return adapters;
        }
        var replaced = new java.util.HashSet<Integer>();
        for (Residual r : residuals) {
            replaced.add(key(r.layer(), r.target()));
        }
        AdapterFactory converted = (layer, target, base, rnd) -> {
            TrainableAdapter a = adapters.get(layer, target);
            if (!replaced.contains(key(layer, target))) {
                return a;
            }
            if (a instanceof KasaAdapter kasa) {
                return kasa.onOriginalWeights();      // carries the removed components itself
            }
            String pre = TrainableAdapterSet.prefix(layer, target);
            float[] a0 = initialState.get(pre + "lora_A"), b0 = initialState.get(pre + "lora_B");
            float dropout = Float.parseFloat(a.config().get("dropout"));
            boolean rs = Boolean.parseBoolean(a.config().get("rs_lora"));
            if (a instanceof LoraAdapter lora) {
                int r = lora.rank();
                var out = new LoraAdapter(lora.inFeatures(), lora.outFeatures(), 2 * r, doubledAlpha(lora.scale(), r, rs),
                        dropout, rs);
                stack(lora.loraA().value(), a0, lora.loraB().value(), b0, r, lora.inFeatures(), lora.outFeatures(),
                        out.loraA().value(), out.loraB().value());
                return out;
            }
            if (a instanceof DoraAdapter dora) {
                // W + s·[B, −B₀]·[A; A₀] = W_res + s·B·A (up to re-quantization), so the same row norms and the same
                // magnitude give the same W' on the original base.
                int r = Integer.parseInt(dora.config().get("rank"));
                var out = new DoraAdapter(base, 2 * r, doubledAlpha(dora.scale(), r, rs), dropout, rs);
                stack(dora.loraA().value(), a0, dora.loraB().value(), b0, r, dora.inFeatures(), dora.outFeatures(),
                        out.loraA().value(), out.loraB().value());
                System.arraycopy(dora.magnitude().value(), 0, out.magnitude().value(), 0, dora.outFeatures());
                return out;
            }
            throw new UnsupportedOperationException("converting a residual-base " + a.method()
                    + " adapter to a delta on the original weights is not implemented (LoRA, DoRA and KaSA only)");
        };
        return TrainableAdapterSet.create(original, adapters.targets(), converted, 0);
    }

    /** The alpha that gives rank 2r the scale s of rank r. */
    private static float doubledAlpha(float scale, int r, boolean rsLora) {
        return rsLora ? (float) (scale * Math.sqrt(2.0 * r)) : scale * 2 * r;
    }

    /** A' = [A; A₀] [2r × IC] and B' = [B, −B₀] [OC × 2r]. */
    private static void stack(float[] a, float[] a0, float[] b, float[] b0, int r, int IC, int OC, float[] a2, float[] b2) {
        System.arraycopy(a, 0, a2, 0, r * IC);
        System.arraycopy(a0, 0, a2, r * IC, r * IC);
        for (int o = 0; o < OC; o++) {
            for (int j = 0; j < r; j++) {
                b2[o * 2 * r + j] = b[o * r + j];
                b2[o * 2 * r + r + j] = -b0[o * r + j];
            }
        }
    }

    /** The largest {@link Residual#relativeError} (0 when nothing was replaced). */
    public double maxRelativeError() {
        double m = 0;
        for (Residual r : residuals) {
            m = Math.max(m, r.relativeError());
        }
        return m;
    }

    private static int key(int layer, Target t) {
        return layer * 16 + t.ordinal();
    }

    private static double relativeError(QuantMatrix original, QuantMatrix residual, TrainableAdapter adapter) {
        int OC = original.rows(), IC = original.cols();
        float[] merged = new float[OC * IC];
        for (int o = 0; o < OC; o++) {
            residual.dequantizeRow(o, merged, o * IC);
        }
        adapter.mergeInto(merged);
        float[] row = new float[IC];
        double err = 0, norm = 0;
        for (int o = 0; o < OC; o++) {
            original.dequantizeRow(o, row, 0);
            for (int i = 0; i < IC; i++) {
                double d = merged[o * IC + i] - (double) row[i];
                err += d * d;
                norm += (double) row[i] * row[i];
            }
        }
        return norm > 0 ? Math.sqrt(err / norm) : Math.sqrt(err);
    }

    /** {@code layer} with the weight of {@code t} replaced. */
    public static LlamaWeights.Layer withWeight(LlamaWeights.Layer x, Target t, QuantMatrix w) {
        return new LlamaWeights.Layer(x.attnNorm(),
                t == Target.Q ? w : x.wq(), t == Target.K ? w : x.wk(), t == Target.V ? w : x.wv(),
                t == Target.O ? w : x.wo(), x.bq(), x.bk(), x.bv(), x.ffnNorm(),
                t == Target.GATE ? w : x.wGate(), t == Target.UP ? w : x.wUp(), t == Target.DOWN ? w : x.wDown());
    }
}
