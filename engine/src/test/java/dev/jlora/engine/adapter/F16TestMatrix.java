package dev.jlora.engine.adapter;

import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;

/**
 * An IEEE binary16 [OC × IC] matrix (Float.floatToFloat16 rounding, round-to-nearest-even), for tests of
 * re-quantized residual bases that must not depend on the quant module's kernels. Obviously-correct loops.
 */
record F16TestMatrix(int rows, int cols, short[] h) implements QuantMatrix {

    static F16TestMatrix of(float[] w, int rows, int cols) {
        short[] h = new short[rows * cols];
        for (int i = 0; i < h.length; i++) {
            h[i] = Float.floatToFloat16(w[i]);
        }
        return new F16TestMatrix(rows, cols, h);
    }

    /** The requantizer of this test format: F16 only. */
    static final Requantizer REQUANTIZER = (type, w, rows, cols) -> {
        if (type == QuantType.F16) {
            return of(w, rows, cols);
        }
        if (type == QuantType.F32) {
            return new dev.jlora.engine.ref.F32Matrix(rows, cols, w.clone());
        }
        throw new UnsupportedOperationException("test requantizer has F16 and F32 only, asked for " + type);
    };

    @Override
    public QuantType type() {
        return QuantType.F16;
    }

    @Override
    public long storageBytes() {
        return 2L * h.length;
    }

    @Override
    public void matmul(float[] x, int T, float[] y) {
        for (int t = 0; t < T; t++) {
            for (int o = 0; o < rows; o++) {
                float s = 0f;
                for (int i = 0; i < cols; i++) {
                    s += x[t * cols + i] * Float.float16ToFloat(h[o * cols + i]);
                }
                y[t * rows + o] = s;
            }
        }
    }

    @Override
    public void matmulBackwardInput(float[] dy, int T, float[] dx) {
        for (int t = 0; t < T; t++) {
            for (int o = 0; o < rows; o++) {
                for (int i = 0; i < cols; i++) {
                    dx[t * cols + i] += dy[t * rows + o] * Float.float16ToFloat(h[o * cols + i]);
                }
            }
        }
    }

    @Override
    public void dequantizeRow(int row, float[] out, int off) {
        for (int i = 0; i < cols; i++) {
            out[off + i] = Float.float16ToFloat(h[row * cols + i]);
        }
    }
}
