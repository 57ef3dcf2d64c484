package dev.jlora.bench;

import dev.jlora.ffm.BlasLib;
import dev.jlora.simd.Matmul;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The backward forms and the mapped-weight forward at M = 512, K = N = 768, 2 threads, against the
 * matching {@code cblas_sgemm} calls: {@code dx = dy·W} ({@code matmulAB}, NN), {@code dW += dyᵀ·x}
 * ({@code matmulAtBAccumulate}, TN with beta 1), and {@code y = x·Wᵀ} with W in an off-heap segment.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@State(Scope.Benchmark)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Djlora.threads=2"})
public class MatmulFormsBench {
    static final int M = 512, K = 768, N = 768;

    float[] A, Bkn, Bmn, C, Ckn;
    MemorySegment Bseg;
    Arena arena;
    BlasLib blas;

    @Setup(Level.Trial)
    public void setup() {
        var rnd = new SplittableRandom(11);
        A = floats(rnd, M * K);
        Bkn = floats(rnd, K * N);
        Bmn = floats(rnd, M * N);
        C = new float[M * N];
        Ckn = new float[K * N];
        arena = Arena.ofShared();
        Bseg = arena.allocate(4L * N * K, 64);
        float[] b = floats(rnd, N * K);
        MemorySegment.copy(b, 0, Bseg, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, b.length);
        blas = BlasLib.load().orElse(null);
        if (blas != null) {
            blas.setNumThreads(2);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    private static float[] floats(SplittableRandom rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextDouble(-1, 1);
        }
        return a;
    }

    private BlasLib blas() {
        if (blas == null) {
            throw new IllegalStateException("OpenBLAS not available (install libopenblas-dev)");
        }
        return blas;
    }

    @Benchmark
    public float[] jloraAB() {
        Matmul.matmulAB(C, A, Bkn, M, K, N);
        return C;
    }

    @Benchmark
    public float[] openblasAB() {
        blas().sgemm(false, false, M, N, K, 1f, A, K, Bkn, N, 0f, C, N);
        return C;
    }

    @Benchmark
    public float[] jloraAtBAccumulate() {
        Matmul.matmulAtBAccumulate(Ckn, A, Bmn, M, K, N);
        return Ckn;
    }

    @Benchmark
    public float[] openblasAtBAccumulate() {
        blas().sgemm(true, false, K, N, M, 1f, A, K, Bmn, N, 1f, Ckn, N);
        return Ckn;
    }

    @Benchmark
    public float[] jloraABtSegment() {
        Matmul.matmulABt(C, A, Bseg, 0, M, K, N);
        return C;
    }

    @Benchmark
    public float[] openblasABtSegment() {
        blas().sgemm(false, true, M, N, K, 1f, MemorySegment.ofArray(A), K, Bseg, K, 0f, MemorySegment.ofArray(C), N);
        return C;
    }
}
