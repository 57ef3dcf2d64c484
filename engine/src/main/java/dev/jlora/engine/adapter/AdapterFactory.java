package dev.jlora.engine.adapter;

import dev.jlora.quant.QuantMatrix;
import java.util.SplittableRandom;

/**
 * Creates the trainable adapter for one (layer, target). The base weight is passed so that initialisations that
 * read it (PiSSA's SVD, DoRA's column norms) can; plain LoRA only needs its shape.
 */
@FunctionalInterface
public interface AdapterFactory {
    TrainableAdapter create(int layer, Target target, QuantMatrix base, SplittableRandom rnd);

    /** Plain LoRA / rsLoRA with PEFT's default initialisation. */
    static AdapterFactory lora(LoraConfig cfg) {
        return (layer, target, base, rnd) -> LoraAdapter.create(base.cols(), base.rows(), cfg, rnd);
    }
}
