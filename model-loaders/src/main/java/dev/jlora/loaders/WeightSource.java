package dev.jlora.loaders;

import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.quant.QuantMatrix;

/**
 * Named weights of one checkpoint, fetched by their GGUF name ({@link TensorNames} maps the others) and checked
 * against the shape the config implies as they are fetched.
 */
interface WeightSource {
    boolean has(String ggufName);

    /** A [rows × cols] weight (row-major, HF orientation) in its stored format, read in place. */
    QuantMatrix matrix(String ggufName, int rows, int cols) throws ModelFormatException;

    /** A vector of n values as fp32. */
    float[] vector(String ggufName, int n) throws ModelFormatException;
}
