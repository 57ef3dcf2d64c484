package dev.jlora.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link QuantType#quantize(QuantMatrix, QuantType.RowsDone)}: every source row is reported done exactly once, in
 * runs of at most {@link QuantType#RELEASE_ROWS}, only after it was read (a loader drops its pages then), and the
 * result is the same bytes as without the listener.
 */
class QuantizeRowsDoneTest {

    @ParameterizedTest
    @EnumSource(value = QuantType.class, names = {"NF4", "Q4_0", "Q8_0", "Q4_K"})
    void everyRowIsReportedOnceAfterItWasRead(QuantType type) {
        int rows = 301, cols = 256;   // 301: not a multiple of the run length nor of any thread split
        var rnd = new SplittableRandom(5);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) rnd.nextGaussian();
        }
        QuantMatrix f32 = QuantType.F32.quantize(w, rows, cols);
        AtomicIntegerArray read = new AtomicIntegerArray(rows), done = new AtomicIntegerArray(rows);
        QuantMatrix source = new QuantMatrix() {   // counts reads, then delegates
            @Override public QuantType type() { return f32.type(); }
            @Override public int rows() { return rows; }
            @Override public int cols() { return cols; }
            @Override public long storageBytes() { return f32.storageBytes(); }
            @Override public void dequantizeRow(int row, float[] out, int off) {
                assertEquals(0, done.get(row), "row " + row + " read after it was reported done");
                read.incrementAndGet(row);
                f32.dequantizeRow(row, out, off);
            }
            @Override public void matmul(float[] x, int T, float[] y) { f32.matmul(x, T, y); }
            @Override public void matmulBackwardInput(float[] dy, int T, float[] dx) { f32.matmulBackwardInput(dy, T, dx); }
        };
        QuantMatrix streamed = type.quantize(source, (from, to) -> {
            assertTrue(to - from <= QuantType.RELEASE_ROWS && from < to, "run [" + from + ", " + to + ")");
            for (int r = from; r < to; r++) {
                assertEquals(1, read.get(r), "row " + r + " reported before it was read");
                done.incrementAndGet(r);
            }
        });
        for (int r = 0; r < rows; r++) {
            assertEquals(1, done.get(r), "row " + r + " reported done");
        }
        QuantMatrix plain = type.quantize(f32);
        float[] a = new float[cols], b = new float[cols];
        for (int r = 0; r < rows; r++) {
            streamed.dequantizeRow(r, a, 0);
            plain.dequantizeRow(r, b, 0);
            assertArrayEquals(b, a, 0f, "row " + r + " differs from quantize without a listener");
        }
    }
}
