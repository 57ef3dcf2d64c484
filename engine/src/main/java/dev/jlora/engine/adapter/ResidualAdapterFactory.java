package dev.jlora.engine.adapter;

import dev.jlora.quant.QuantMatrix;
import java.util.SplittableRandom;

/**
 * Like {@link AdapterFactory}, for initialisations that also replace the frozen base of the layer (PiSSA, OLoRA):
 * returns the adapter and, or null, the residual weight W − ΔW₀ [OC × IC] (dense fp32) that becomes the new base.
 * {@link AdaptedModel#create} collects the residuals and builds the new weights.
 */
@FunctionalInterface
public interface ResidualAdapterFactory {

    Created create(int layer, Target target, QuantMatrix base, SplittableRandom rnd);

    /**
     * @param adapter       the adapter, or null when the layer gets none (EVA's rank 0) or when {@code onStoredBase}
     *                      builds it
     * @param residual      null when the base stays as it is
     * @param onStoredBase  null, or (with a residual) builds the adapter on the residual as stored in the base's type:
     *                      for adapters that read their base (DoRA's norms), so that step 0 is exact for the stored
     *                      weight, re-quantization included
     */
    record Created(TrainableAdapter adapter, float[] residual,
                   java.util.function.Function<QuantMatrix, TrainableAdapter> onStoredBase) {
        public Created(TrainableAdapter adapter, float[] residual) {
            this(adapter, residual, null);
        }

        public Created {
            if (onStoredBase != null && residual == null) {
                throw new IllegalArgumentException("an adapter built on the stored residual needs a residual");
            }
        }
    }

    /** A plain factory: the base is never replaced. */
    static ResidualAdapterFactory of(AdapterFactory plain) {
        return (layer, target, base, rnd) -> new Created(plain.create(layer, target, base, rnd), null);
    }

    /** LoRA / rsLoRA (cfg) with its factors from {@code init}. */
    static ResidualAdapterFactory lora(LoraConfig cfg, AdapterInit init) {
        return (layer, target, base, rnd) -> {
            var lora = new LoraAdapter(base.cols(), base.rows(), cfg.rank(), cfg.alpha(), cfg.dropout(), cfg.rsLora());
            AdapterInit.Factors f = init.init(base, cfg.rank(), lora.scale(), rnd);
            System.arraycopy(f.a(), 0, lora.loraA().value(), 0, f.a().length);
            System.arraycopy(f.b(), 0, lora.loraB().value(), 0, f.b().length);
            return new Created(lora, f.residual());
        };
    }
}
