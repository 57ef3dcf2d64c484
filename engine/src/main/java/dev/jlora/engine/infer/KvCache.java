package dev.jlora.engine.infer;

/**
 * Keys and values of every past position, fp32, one [ctx × KVH·hs] row-major array per layer for each.
 * Keys are stored after rotary embedding, so a cached key is never rotated again.
 */
final class KvCache {
    final float[][] keys;
    final float[][] values;
    final int contextSize;
    final int kvDim;

    KvCache(int nLayers, int contextSize, int kvDim) {
        long perLayer = (long) contextSize * kvDim;
        if (perLayer > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("KV cache of " + contextSize + " positions × " + kvDim
                    + " floats per layer does not fit a Java array; use a smaller context size");
        }
        this.contextSize = contextSize;
        this.kvDim = kvDim;
        this.keys = new float[nLayers][(int) perLayer];
        this.values = new float[nLayers][(int) perLayer];
    }

    /** Bytes held by the cache. */
    long bytes() {
        return bytesFor(keys.length, contextSize, kvDim);
    }

    /** Bytes of a cache for {@code contextSize} positions: keys and values, fp32. */
    static long bytesFor(int nLayers, long contextSize, int kvDim) {
        return 2L * nLayers * contextSize * kvDim * Float.BYTES;
    }
}
