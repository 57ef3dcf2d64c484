package dev.jlora.engine.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
import dev.jlora.simd.testing.Approx;
import dev.jlora.simd.testing.Rand;
import java.util.EnumSet;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The F32 forward/backward goes through the backend and matches the Java F32 matrix it wraps. */
class BackendMatrixTest {
    private static final long SEED = 0xBACC;

    @Test
    void f32ProductsRunOnTheBackendAndMatchJava() {
        var rnd = new SplittableRandom(SEED);
        int OC = 13, IC = 37, T = 5;
        QuantMatrix w = QuantType.F32.quantize(Rand.floats(rnd, OC * IC), OC, IC);
        var counting = new CountingBackend(EnumSet.allOf(Op.class));
        QuantMatrix onBackend = BackendMatrix.wrap(w, counting);

        float[] x = Rand.floats(rnd, T * IC);
        float[] yRef = new float[T * OC], y = new float[T * OC];
        w.matmul(x, T, yRef);
        onBackend.matmul(x, T, y);
        // Reference: the quant module's F32 matmul; both are float dot products, order may differ.
        Approx.assertClose(yRef, y, 1e-5, 1e-5, () -> "forward, seed " + SEED);

        float[] dy = Rand.floats(rnd, T * OC);
        float[] dxRef = Rand.floats(new SplittableRandom(SEED + 1), T * IC), dx = dxRef.clone();
        w.matmulBackwardInput(dy, T, dxRef);
        onBackend.matmulBackwardInput(dy, T, dx);
        Approx.assertClose(dxRef, dx, 1e-5, 1e-5, () -> "backward input (accumulating), seed " + SEED);

        assertEquals(1, counting.calls(Op.MATMUL_ABT));
        assertEquals(1, counting.calls(Op.MATMUL_AB));
        float[] row = new float[IC], rowRef = new float[IC];
        w.dequantizeRow(7, rowRef, 0);
        onBackend.dequantizeRow(7, row, 0);
        Approx.assertClose(rowRef, row, 0, 0, () -> "row 7 copied exactly");
    }

    @Test
    void quantizedMatricesStayOnJava() {
        QuantMatrix q = QuantType.Q8_0.quantize(Rand.floats(new SplittableRandom(SEED), 4 * 64), 4, 64);
        assertSame(q, BackendMatrix.wrap(q, new CountingBackend(EnumSet.allOf(Op.class))));
    }
}
