package dev.jlora.quant;

import java.lang.foreign.MemorySegment;
import java.util.Optional;

/**
 * A frozen weight matrix W of shape [OC × IC] (rows = output features, Hugging Face / ggml orientation),
 * stored in any {@link QuantType}, used without ever materialising it in fp32.
 *
 * <p>Implementations are immutable and thread-safe; the kernels may run on the shared pool. Get one from the
 * table: {@link QuantType#wrap} (stored blocks, e.g. a mapped GGUF slice, read in place),
 * {@link QuantType#quantize(float[], int, int)} or {@link QuantType#quantize(QuantMatrix)}.
 */
public interface QuantMatrix {
    /** Output features (rows). */
    int rows();

    /** Input features (columns, the contiguous dimension). */
    int cols();

    /** Storage format of the rows. */
    QuantType type();

    /** Bytes of weight storage, heap or off-heap. */
    long storageBytes();

    /** y[t·OC + o] = Σ_i x[t·IC + i]·W[o, i] for t < T. Overwrites y. */
    void matmul(float[] x, int T, float[] y);

    /** dx[t·IC + i] += Σ_o dy[t·OC + o]·W[o, i] for t < T. Accumulates into dx (W frozen: no weight gradient). */
    void matmulBackwardInput(float[] dy, int T, float[] dx);

    /** out[off + i] = W[row, i] for i < IC (dequantized). */
    void dequantizeRow(int row, float[] out, int off);

    /**
     * The stored ggml blocks, {@code rows × type().rowBytes(cols)} bytes, row-major and read-only, for a native
     * backend that takes the weight as it is stored; empty where there are none (NF4 keeps its absmax values beside
     * the codes, and a wrapper computes from something else).
     */
    default Optional<MemorySegment> storedBlocks() {
        return Optional.empty();
    }
}
