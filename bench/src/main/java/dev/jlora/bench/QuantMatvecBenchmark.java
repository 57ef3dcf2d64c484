package dev.jlora.bench;

import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
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

/**
 * Fused dequantize + matvec (decode, T = 1) of a 4096×4096 weight against a STREAM-like read of the same number of
 * bytes in the same run: {@code matvec / streamRead} says how close the kernel comes to the memory-bound limit
 * (1.0 = as fast as just reading the weights). Also T = 16 ({@code matmulT16}, per token: divide by 16) and the
 * backward {@code dx += dy·W} for T = 1.
 *
 * <p>Run: {@code java -jar bench/target/benchmarks.jar QuantMatvecBenchmark} (both use the shared pool's threads).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Benchmark)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class QuantMatvecBenchmark {
    @Param({"Q4_0", "Q4_K", "NF4", "Q8_0"})
    String type;

    @Param({"4096"})
    int n;

    QuantMatrix w;
    StreamRead stream;
    float[] x, y, x16, y16, dx;

    @Setup
    public void setup() {
        var rnd = new SplittableRandom(42);
        float[] dense = new float[n * n];
        for (int i = 0; i < dense.length; i++) dense[i] = (float) (0.02 * rnd.nextGaussian());
        w = QuantType.valueOf(type).quantize(dense, n, n);
        // The baseline reads exactly as many bytes as the weight occupies, from the same kind of memory.
        stream = new StreamRead(w.storageBytes(), 43);
        x = new float[n];
        y = new float[n];
        x16 = new float[16 * n];
        y16 = new float[16 * n];
        dx = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextDouble(-1, 1);
        for (int i = 0; i < 16 * n; i++) x16[i] = (float) rnd.nextDouble(-1, 1);
    }

    @Benchmark
    public float matvec() {
        w.matmul(x, 1, y);
        return y[0];
    }

    @Benchmark
    public float matmulT16() {
        w.matmul(x16, 16, y16);
        return y16[0];
    }

    @Benchmark
    public float backwardT1() {
        w.matmulBackwardInput(x, 1, dx);
        return dx[0];
    }

    /** Reads as many bytes as the weight occupies ({@link StreamRead}), split over the same pool as the kernels. */
    @Benchmark
    public long streamRead() {
        return stream.read();
    }
}
