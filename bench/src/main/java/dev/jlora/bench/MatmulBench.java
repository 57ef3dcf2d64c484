package dev.jlora.bench;

import dev.jlora.ffm.BlasLib;
import dev.jlora.simd.Matmul;
import dev.jlora.simd.Parallel;
import dev.jlora.simd.VectorOpsProvider;
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
 * {@code C[M×N] = A[M×K]·B[N×K]ᵀ} (the forward of a linear layer) on 2 threads: jlora's Matmul against OpenBLAS
 * {@code cblas_sgemm} in the same fork. Both get exactly 2 threads: {@code -Djlora.threads=2} and
 * {@code openblas_set_num_threads(2)}. Set {@code OPENBLAS_CORETYPE} in the environment ({@code scripts/bench.sh}
 * does). Score: milliseconds per product; GFLOPS = 2·M·K·N / time.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@State(Scope.Benchmark)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Djlora.threads=2"})
public class MatmulBench {
    /** M×K×N. */
    @Param({"512x768x768", "512x768x2048"})
    String shape;

    int M, K, N;
    float[] A, B, C;
    BlasLib blas;

    @Setup(Level.Trial)
    public void setup() {
        String[] p = shape.split("x");
        M = Integer.parseInt(p[0]);
        K = Integer.parseInt(p[1]);
        N = Integer.parseInt(p[2]);
        var rnd = new SplittableRandom(7);
        A = new float[M * K];
        B = new float[N * K];
        C = new float[M * N];
        for (int i = 0; i < A.length; i++) {
            A[i] = (float) rnd.nextDouble(-1, 1);
        }
        for (int i = 0; i < B.length; i++) {
            B[i] = (float) rnd.nextDouble(-1, 1);
        }
        blas = BlasLib.load().orElse(null);
        if (blas != null) {
            blas.setNumThreads(2);
            System.out.printf("%nOpenBLAS %s: core %s, %d threads, OPENBLAS_CORETYPE=%s%n", blas.config(),
                    blas.coreName(), blas.numThreads(), System.getenv("OPENBLAS_CORETYPE"));
        } else {
            System.out.println("\nOpenBLAS not available: the openblas benchmark will fail");
        }
        System.out.printf("jlora: %s, %d threads%n", VectorOpsProvider.choice().ops().name(), Parallel.threads());
    }

    @Benchmark
    public float[] jlora() {
        Matmul.matmulABt(C, A, B, M, K, N);
        return C;
    }

    @Benchmark
    public float[] openblas() {
        if (blas == null) {
            throw new IllegalStateException("OpenBLAS not available (install libopenblas-dev)");
        }
        blas.matmulABt(C, A, B, M, K, N);
        return C;
    }
}
