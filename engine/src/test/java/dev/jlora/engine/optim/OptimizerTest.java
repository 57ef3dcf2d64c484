package dev.jlora.engine.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.jlora.engine.adapter.Parameter;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Each optimizer against steps worked out by hand from the PyTorch update rules. */
class OptimizerTest {

    static Parameter param(float[] value, float[] grad) {
        return new Parameter("p", new int[] {value.length}, value, grad);
    }

    @Test
    void adamWFirstStepsByHand() {
        var p = param(new float[] {1f, -2f}, new float[] {0.5f, -1f});
        var opt = new AdamW(0.9f, 0.999f, 1e-8f, 0.1f);
        opt.step(List.of(p), 0.1f);
        // step 1: decay 1−lr·λ = 0.99; m̂ = g, v̂ = g², so the Adam step is lr·sign(g) (ε negligible)
        assertEquals(0.99 - 0.1, p.value()[0], 1e-6);
        assertEquals(-1.98 + 0.1, p.value()[1], 1e-6);

        p.grad()[0] = 0.1f;
        p.grad()[1] = 0.2f;
        opt.step(List.of(p), 0.05f);
        // step 2 for element 0: m = 0.9·0.05 + 0.1·0.1 = 0.055, v = 0.999·0.00025 + 0.001·0.01 = 0.00025975;
        // m̂ = 0.055 / 0.19, v̂ = 0.00025975 / 0.001999; w = 0.89·(1 − 0.005) − 0.05·m̂/(√v̂ + 1e-8)
        double mHat = 0.055 / (1 - 0.81), vHat = 0.00025975 / (1 - 0.999 * 0.999);
        assertEquals(0.89 * 0.995 - 0.05 * mHat / (Math.sqrt(vHat) + 1e-8), p.value()[0], 1e-6);
        // element 1: m = 0.9·(−0.1) + 0.1·0.2 = −0.07, v = 0.999·0.001 + 0.001·0.04 = 0.001039
        mHat = -0.07 / 0.19;
        vHat = 0.001039 / (1 - 0.999 * 0.999);
        assertEquals(-1.88 * 0.995 - 0.05 * mHat / (Math.sqrt(vHat) + 1e-8), p.value()[1], 1e-6);
        assertEquals(2, opt.stepCount());
    }

    @Test
    void adamWStateRoundTripContinuesIdentically() {
        var p1 = param(new float[] {1f, 2f, 3f}, new float[] {0.3f, -0.2f, 0.1f});
        var p2 = param(p1.value().clone(), p1.grad().clone());
        var o1 = AdamW.defaults();
        o1.step(List.of(p1), 0.01f);
        var o2 = AdamW.defaults();
        o2.load(o1.state(), o1.stepCount());
        System.arraycopy(p1.value(), 0, p2.value(), 0, 3);
        o1.step(List.of(p1), 0.01f);
        o2.step(List.of(p2), 0.01f);
        assertArrayEquals(p1.value(), p2.value());
        assertThrows(IllegalArgumentException.class, () -> o2.load(java.util.Map.of("p.bogus", new float[3]), 1));
    }

    @Test
    void sgdMomentumByHand() {
        var p = param(new float[] {1f}, new float[] {0.5f});
        var opt = new SgdMomentum(0.9f, 0f);
        opt.step(List.of(p), 0.1f);
        assertEquals(0.95, p.value()[0], 1e-7);          // buf = g = 0.5
        opt.step(List.of(p), 0.1f);
        assertEquals(0.95 - 0.1 * 0.95, p.value()[0], 1e-7); // buf = 0.9·0.5 + 0.5
        var wd = param(new float[] {2f}, new float[] {0f});
        new SgdMomentum(0.9f, 0.5f).step(List.of(wd), 0.1f);
        assertEquals(2 - 0.1 * (0.5 * 2), wd.value()[0], 1e-7); // coupled L2: g + λp
    }

    @Test
    void schedulesByHand() {
        var cos = new LrSchedule(LrSchedule.Kind.COSINE, 1f, 2, 10, 0.1f);
        assertEquals(0.5, cos.lr(0), 1e-7);
        assertEquals(1.0, cos.lr(1), 1e-7);
        assertEquals(1.0, cos.lr(2), 1e-7);
        assertEquals(0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI / 4)), cos.lr(4), 1e-6);
        assertEquals(0.55, cos.lr(6), 1e-6);
        assertEquals(0.1, cos.lr(10), 1e-7);
        assertEquals(0.1, cos.lr(50), 1e-7);
        var lin = new LrSchedule(LrSchedule.Kind.LINEAR, 1f, 2, 10, 0.1f);
        assertEquals(0.1 + 0.9 * 0.75, lin.lr(4), 1e-6);
        assertEquals(0.1, lin.lr(10), 1e-7);
        var c = new LrSchedule(LrSchedule.Kind.CONSTANT, 3e-4f, 4, 100, 0f);
        assertEquals(3e-4f / 4, c.lr(0), 1e-10);
        assertEquals(3e-4f, c.lr(99), 1e-10);
    }

    @Test
    void clippingScalesToMaxNormAndReportsTheNormBefore() {
        var a = param(new float[] {0f, 0f}, new float[] {3f, 0f});
        var b = param(new float[] {0f}, new float[] {4f});
        assertEquals(5.0, GradientClipping.clip(List.of(a, b), 1.0), 1e-12);
        assertEquals(0.6, a.grad()[0], 1e-6);
        assertEquals(0.8, b.grad()[0], 1e-6);
        assertEquals(1.0, GradientClipping.clip(List.of(a, b), 2.0), 1e-6); // below max: untouched
        assertEquals(0.6, a.grad()[0], 1e-6);
        a.grad()[1] = Float.NaN;
        assertEquals(Double.NaN, GradientClipping.clip(List.of(a, b), 1.0));
        assertEquals(0.8, b.grad()[0], 1e-6);
    }
}
