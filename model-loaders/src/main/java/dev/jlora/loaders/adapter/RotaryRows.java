package dev.jlora.loaders.adapter;

/**
 * llama.cpp's per-head Q/K row permutation ({@code convert_hf_to_gguf.py}, {@code LlamaModel.permute}): within a
 * head of hs rows, GGUF row {@code 2i + j} holds Hugging Face row {@code j·hs/2 + i} (i &lt; hs/2, j ∈ {0, 1}).
 * Applied to row-major [rows × cols] matrices (LoRA B: cols = r).
 */
final class RotaryRows {
    private RotaryRows() {}

    /** The Hugging Face row held by GGUF row {@code g}. */
    static int hfRowOf(int g, int headDim) {
        int h = g / headDim, k = g % headDim;
        return h * headDim + (k & 1) * (headDim / 2) + (k >> 1);
    }

    static float[] toGguf(float[] w, int rows, int cols, int headDim) {
        check(w, rows, cols, headDim);
        float[] out = new float[w.length];
        for (int g = 0; g < rows; g++) {
            System.arraycopy(w, hfRowOf(g, headDim) * cols, out, g * cols, cols);
        }
        return out;
    }

    static float[] toHf(float[] w, int rows, int cols, int headDim) {
        check(w, rows, cols, headDim);
        float[] out = new float[w.length];
        for (int g = 0; g < rows; g++) {
            System.arraycopy(w, g * cols, out, hfRowOf(g, headDim) * cols, cols);
        }
        return out;
    }

    private static void check(float[] w, int rows, int cols, int headDim) {
        if (headDim <= 0 || headDim % 2 != 0 || rows % headDim != 0 || (long) rows * cols != w.length) {
            throw new IllegalArgumentException("cannot permute [" + rows + " × " + cols + "] (" + w.length
                    + " values) by rotary heads of " + headDim + " rows");
        }
    }
}
