package dev.jlora.engine.infer;

/**
 * Keys and values of {@link KvPagePool#pageSize()} consecutive positions of one sequence, for every layer: values
 * as one [pageSize × KVH·hs] row-major array per layer, keys transposed ([KVH·hs × pageSize]: a channel's positions
 * side by side, so that {@link Attention} scores a page with vector multiply-adds). Keys are stored after rotary
 * embedding.
 */
final class KvPage {
    final float[][] keys;     // [layer][channel · pageSize + row]
    final float[][] values;

    KvPage(int nLayers, int pageSize, int kvDim) {
        keys = new float[nLayers][pageSize * kvDim];
        values = new float[nLayers][pageSize * kvDim];
    }
}
