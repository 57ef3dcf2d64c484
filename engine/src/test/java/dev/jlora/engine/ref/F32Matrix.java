package dev.jlora.engine.ref;

import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;

/** A plain fp32 [OC × IC] matrix for tests that build tiny models by hand; obviously-correct loops. */
public record F32Matrix(int rows, int cols, float[] w) implements QuantMatrix {

    public F32Matrix {
        if (w.length != rows * cols) {
            throw new IllegalArgumentException(rows + "×" + cols + " needs " + rows * cols + " values, got " + w.length);
        }
    }

    @Override
    public QuantType type() {
        return QuantType.F32;
    }

    @Override
    public long storageBytes() {
        return 4L * w.length;
    }

    @Override
    public void matmul(float[] x, int T, float[] y) {
        for (int t = 0; t < T; t++) {
            for (int o = 0; o < rows; o++) {
                float s = 0f;
                for (int i = 0; i < cols; i++) {
                    s += x[t * cols + i] * w[o * cols + i];
                }
                y[t * rows + o] = s;
            }
        }
    }

    @Override
    public void matmulBackwardInput(float[] dy, int T, float[] dx) {
        for (int t = 0; t < T; t++) {
            for (int o = 0; o < rows; o++) {
                float g = dy[t * rows + o];
                for (int i = 0; i < cols; i++) {
                    dx[t * cols + i] += g * w[o * cols + i];
                }
            }
        }
    }

    @Override
    public void dequantizeRow(int row, float[] out, int off) {
        System.arraycopy(w, row * cols, out, off, cols);
    }
}
