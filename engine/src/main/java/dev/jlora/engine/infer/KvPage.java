package dev.jlora.engine.infer;

/**
 * Keys and values of {@link KvPagePool#pageSize()} consecutive positions of one sequence, for every layer: values
 * as one [pageSize × KVH·hs] row-major array per layer, keys transposed ([KVH·hs × pageSize]: a channel's positions
 * side by side, so that {@link Attention} scores a page with vector multiply-adds). Keys are stored after rotary
 * embedding. Either the fp32 arrays or the fp16 ones exist, as the pool's {@link KvCacheType} says.
 */
final class KvPage {
    final float[][] keys;        // [layer][channel · pageSize + row], F32 pages
    final float[][] values;      // [layer][row · kvDim + channel], F32 pages
    final short[][] keysF16;     // the same layouts as fp16 bits, F16 pages
    final short[][] valuesF16;

    KvPage(int nLayers, int pageSize, int kvDim, KvCacheType type) {
        boolean f16 = type == KvCacheType.F16;
        keys = f16 ? null : new float[nLayers][pageSize * kvDim];
        values = f16 ? null : new float[nLayers][pageSize * kvDim];
        keysF16 = f16 ? new short[nLayers][pageSize * kvDim] : null;
        valuesF16 = f16 ? new short[nLayers][pageSize * kvDim] : null;
    }
}
