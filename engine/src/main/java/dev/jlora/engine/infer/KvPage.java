package dev.jlora.engine.infer;

/**
 * Keys and values of {@link KvPagePool#pageSize()} consecutive positions of one sequence, for every layer: one
 * [pageSize × KVH·hs] row-major array per layer for each. Keys are stored after rotary embedding.
 */
final class KvPage {
    final float[][] keys;     // [layer][row · kvDim ..]
    final float[][] values;

    KvPage(int nLayers, int pageSize, int kvDim) {
        keys = new float[nLayers][pageSize * kvDim];
        values = new float[nLayers][pageSize * kvDim];
    }
}
