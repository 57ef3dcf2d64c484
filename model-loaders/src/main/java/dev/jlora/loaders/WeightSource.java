package dev.jlora.loaders;

import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.quant.QuantMatrix;
import java.lang.foreign.MemorySegment;

/**
 * Named weights of one checkpoint, fetched by their GGUF name ({@link TensorNames} maps the others) and checked
 * against the shape the config implies as they are fetched.
 */
interface WeightSource {
    boolean has(String ggufName);

    /** A [rows × cols] weight (row-major, HF orientation) in its stored format, read in place. */
    QuantMatrix matrix(String ggufName, int rows, int cols) throws ModelFormatException;

    /**
     * Drops the resident pages of bytes {@code [fromByte, toByte)} of a weight that will not be read again (they
     * were quantized into a new copy at load): pages of a memory-mapped file count in the process's resident set
     * once touched, and would otherwise stay there as long as the mapping lives (it does, for the embedding). The
     * kernel reads them back from the file if they are touched after all, so this affects memory only, never
     * values; pages shared with neighbouring bytes are dropped whole and come back the same way.
     */
    void release(String ggufName, long fromByte, long toByte) throws ModelFormatException;

    /** Drops the resident pages of {@code data} if it is a file mapping; does nothing for other memory. */
    static void unloadIfMapped(MemorySegment data) {
        if (data.isMapped()) {
            data.unload();
        }
    }

    /** A vector of n values as fp32. */
    float[] vector(String ggufName, int n) throws ModelFormatException;
}
