package dev.jlora.bench;

import dev.jlora.engine.backend.Backend;
import dev.jlora.engine.backend.Backends;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The three products through {@code Backends.select(backend)}, as the engine calls them (a frozen linear layer of
 * a small model: M = 64 tokens, K = N = 512), so the per-call costs of a backend (ggml's context, buffer and
 * copies) show next to the kernels. A backend unavailable here fails the trial with its reason.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Benchmark)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Djlora.threads=2"})
public class BackendBench {
    static final int M = 64, K = 512, N = 512;

    @Param({"java", "openblas", "ggml"})
    public String backend;

    Backend b;
    float[] x, w, dy, y, dx, dw;

    @Setup(Level.Trial)
    public void setup() {
        b = Backends.select(backend).backend();
        var rnd = new SplittableRandom(5);
        x = floats(rnd, M * K);
        w = floats(rnd, N * K);
        dy = floats(rnd, M * N);
        y = new float[M * N];
        dx = new float[M * K];
        dw = new float[N * K];
    }

    static float[] floats(SplittableRandom rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextDouble(-1, 1);
        }
        return a;
    }

    /** Forward y = x·Wᵀ. */
    @Benchmark
    public float[] abt() {
        b.matmulABt(y, x, w, M, K, N);
        return y;
    }

    /** Input gradient dx = dy·W. */
    @Benchmark
    public float[] ab() {
        b.matmulAB(dx, dy, w, M, N, K);
        return dx;
    }

    /** Weight gradient dW += dyᵀ·x. */
    @Benchmark
    public float[] atbAccumulate() {
        b.matmulAtBAccumulate(dw, dy, x, M, N, K);
        return dw;
    }
}
