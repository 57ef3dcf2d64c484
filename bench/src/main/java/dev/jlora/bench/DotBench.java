package dev.jlora.bench;

import dev.jlora.simd.PanamaOps;
import dev.jlora.simd.ScalarOps;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/** fp32 dot product: PanamaOps against the ScalarOps specification (target: ≥ 8× at n = 4096). */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@State(Scope.Thread)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class DotBench {
    @Param({"4096"})
    int n;

    float[] a, b;

    @Setup
    public void setup() {
        var rnd = new SplittableRandom(42);
        a = new float[n];
        b = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextDouble(-1, 1);
            b[i] = (float) rnd.nextDouble(-1, 1);
        }
    }

    @Benchmark
    public float scalar() {
        return ScalarOps.INSTANCE.dot(a, 0, b, 0, n);
    }

    @Benchmark
    public float panama() {
        return PanamaOps.INSTANCE.dot(a, 0, b, 0, n);
    }
}
