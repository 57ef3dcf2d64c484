package dev.jlora.engine.backend;

import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;

/**
 * An fp32 frozen weight whose products run on a {@link Backend}: the forward {@code y = x·Wᵀ} is
 * {@link Backend#matmulABt}, the input gradient {@code dx += dy·W} is {@link Backend#matmulAB} into a scratch
 * buffer added to dx. The weight is copied to the heap once (a native backend needs a contiguous fp32 array;
 * for a mapped F32 GGUF tensor this doubles its resident memory).
 *
 * <p>Only {@link QuantType#F32} is wrapped here: a quantized weight goes to a backend that keeps it in its own
 * format ({@link Backend#residentWeight}) or stays on its fused dequantize-and-dot Java kernels.
 */
public final class BackendMatrix implements ResidentWeight {
    private final QuantMatrix source;
    private final float[] w;
    private final Backend backend;

    private BackendMatrix(QuantMatrix source, Backend backend) {
        this.source = source;
        this.backend = backend;
        int OC = source.rows(), IC = source.cols();
        if ((long) OC * IC > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("F32 weight " + OC + "×" + IC + " is too large for one float[] ("
                    + "backend " + backend.name() + " needs it on the heap)");
        }
        w = new float[OC * IC];
        for (int o = 0; o < OC; o++) {
            source.dequantizeRow(o, w, o * IC);
        }
    }

    /** {@code m} on {@code backend} when it is F32, else {@code m} itself. */
    public static QuantMatrix wrap(QuantMatrix m, Backend backend) {
        if (m instanceof BackendMatrix bm) {
            m = bm.source;
        }
        return m.type() == QuantType.F32 ? new BackendMatrix(m, backend) : m;
    }

    /** The backend the products run on. */
    @Override public Backend backend() {
        return backend;
    }

    @Override public int rows() {
        return source.rows();
    }

    @Override public int cols() {
        return source.cols();
    }

    @Override public QuantType type() {
        return QuantType.F32;
    }

    @Override public long storageBytes() {
        return 4L * w.length;
    }

    @Override public void matmul(float[] x, int T, float[] y) {
        int OC = rows(), IC = cols();
        checkLength("x", x, (long) T * IC, T);
        checkLength("y", y, (long) T * OC, T);
        backend.matmulABt(y, x, w, T, IC, OC);
    }

    @Override public void matmulBackwardInput(float[] dy, int T, float[] dx) {
        int OC = rows(), IC = cols();
        checkLength("dy", dy, (long) T * OC, T);
        checkLength("dx", dx, (long) T * IC, T);
        float[] tmp = new float[T * IC];
        backend.matmulAB(tmp, dy, w, T, OC, IC);
        for (int i = 0; i < tmp.length; i++) {
            dx[i] += tmp[i];
        }
    }

    @Override public void dequantizeRow(int row, float[] out, int off) {
        System.arraycopy(w, row * cols(), out, off, cols());
    }

    private void checkLength(String name, float[] a, long need, int T) {
        if (T < 0 || a.length < need) {
            throw new IllegalArgumentException(String.format("F32 %d×%d on %s, T=%d: %s needs %,d floats, has %,d",
                    rows(), cols(), backend.name(), T, name, need, a.length));
        }
    }
}
