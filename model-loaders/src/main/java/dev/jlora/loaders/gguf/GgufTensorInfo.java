package dev.jlora.loaders.gguf;

import dev.jlora.quant.QuantType;
import java.util.Arrays;

/**
 * One tensor of a GGUF file.
 *
 * @param name     tensor name, e.g. {@code blk.0.attn_q.weight}
 * @param shape    ggml order: {@code shape[0]} is the contiguous dimension (a weight [OC × IC] has shape {IC, OC})
 * @param type     storage format
 * @param offset   byte offset of the data from the start of the data section
 * @param byteSize bytes of data
 */
public record GgufTensorInfo(String name, long[] shape, QuantType type, long offset, long byteSize) {

    public GgufTensorInfo {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of dimensions. */
    public int nDims() {
        return shape.length;
    }

    /** ggml's ne[i]: the size of dimension i, 1 beyond {@link #nDims()}. */
    public long ne(int i) {
        return i < shape.length ? shape[i] : 1;
    }

    /** Product of the dimensions. */
    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** Shape in the reading order of a row-major matrix: {@code [OC, IC]} for a weight (ggml's ne reversed). */
    public long[] rowMajorShape() {
        long[] r = new long[shape.length];
        for (int i = 0; i < shape.length; i++) {
            r[i] = shape[shape.length - 1 - i];
        }
        return r;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufTensorInfo t && name.equals(t.name) && Arrays.equals(shape, t.shape)
                && type == t.type && offset == t.offset && byteSize == t.byteSize;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(shape) + " @" + offset + " (" + byteSize + " bytes)";
    }
}
