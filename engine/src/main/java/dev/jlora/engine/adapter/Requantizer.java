package dev.jlora.engine.adapter;

import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;

/**
 * Turns a dense fp32 weight [rows × cols] back into a frozen base of a given storage type: how a residual base
 * (PiSSA, OLoRA) is stored again in the format of the weight it replaces, as QLoRA users expect (a Q4_0 model stays
 * Q4_0).
 */
@FunctionalInterface
public interface Requantizer {
    QuantMatrix quantize(QuantType type, float[] w, int rows, int cols);

    /** The quant module's reference quantizers ({@link QuantType#quantize(float[], int, int)}), every type in the table. */
    Requantizer DEFAULT = (type, w, rows, cols) -> type.quantize(w, rows, cols);
}
