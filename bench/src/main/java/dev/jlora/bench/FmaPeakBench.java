package dev.jlora.bench;

import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The machine's fp32 FMA peak as the Vector API reaches it: ten independent accumulator chains (enough to cover
 * FMA latency × issue width on current x86) with operands in registers, no memory traffic. Score: vector FMAs per
 * microsecond per thread; GFLOPS = score · 2 · lanes / 1000 per thread (lanes printed at setup).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Thread)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class FmaPeakBench {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int STEPS = 1024, CHAINS = 10;

    float seed = 1.0001f;

    @Setup
    public void setup() {
        System.out.printf("%nFloatVector.SPECIES_PREFERRED: %d bits, %d lanes%n", F.vectorBitSize(), F.length());
    }

    @Benchmark
    @OperationsPerInvocation(STEPS * CHAINS)
    public float oneThread() {
        return chains();
    }

    @Benchmark
    @Threads(2)
    @OperationsPerInvocation(STEPS * CHAINS)
    public float twoThreads() {
        return chains();
    }

    private float chains() {
        var m = FloatVector.broadcast(F, seed);
        var add = FloatVector.broadcast(F, 1e-7f);
        FloatVector c0 = FloatVector.broadcast(F, 0.1f), c1 = FloatVector.broadcast(F, 0.2f);
        FloatVector c2 = FloatVector.broadcast(F, 0.3f), c3 = FloatVector.broadcast(F, 0.4f);
        FloatVector c4 = FloatVector.broadcast(F, 0.5f), c5 = FloatVector.broadcast(F, 0.6f);
        FloatVector c6 = FloatVector.broadcast(F, 0.7f), c7 = FloatVector.broadcast(F, 0.8f);
        FloatVector c8 = FloatVector.broadcast(F, 0.9f), c9 = FloatVector.broadcast(F, 1.0f);
        for (int i = 0; i < STEPS; i++) {
            c0 = c0.fma(m, add);
            c1 = c1.fma(m, add);
            c2 = c2.fma(m, add);
            c3 = c3.fma(m, add);
            c4 = c4.fma(m, add);
            c5 = c5.fma(m, add);
            c6 = c6.fma(m, add);
            c7 = c7.fma(m, add);
            c8 = c8.fma(m, add);
            c9 = c9.fma(m, add);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).lane(0);
    }
}
