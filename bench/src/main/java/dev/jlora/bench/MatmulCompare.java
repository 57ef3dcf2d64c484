package dev.jlora.bench;

import dev.jlora.ffm.BlasLib;
import dev.jlora.simd.Matmul;
import dev.jlora.simd.Parallel;
import dev.jlora.simd.VectorOpsProvider;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * jlora {@code matmulABt} against OpenBLAS {@code cblas_sgemm}, alternating call by call in one JVM, for a machine
 * shared with other work: JMH runs the two in separate forks one after the other, so a change in background
 * load between them skews their ratio. Here both see the same load, and the report gives the best and the
 * median time of each (the best approximates an idle machine). Complements {@link MatmulBench}, does not replace
 * it.
 *
 * <p>Run it with {@code OPENBLAS_THREAD_TIMEOUT=4} (as {@code scripts/bench.sh compare} does): by default OpenBLAS's
 * idle threads spin for about 0.1 s after each call and take a core from the jlora call that follows, doubling its
 * median (docs/PERFORMANCE.md, "Kernels").
 *
 * <p>{@code OPENBLAS_THREAD_TIMEOUT=4 java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Djlora.threads=2 -cp
 * bench/target/benchmarks.jar dev.jlora.bench.MatmulCompare [rounds] [out.json]}
 */
public final class MatmulCompare {
    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();

    private MatmulCompare() {}

    public static void main(String[] args) throws IOException {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 60;
        Path out = args.length > 1 ? Path.of(args[1]) : null;
        BlasLib blas = BlasLib.load().orElseThrow(() -> new IllegalStateException(
                "OpenBLAS not available (install libopenblas-dev)"));
        blas.setNumThreads(2);
        System.out.printf("OpenBLAS core %s, %d threads; jlora %s, %d threads; %d rounds%n", blas.coreName(),
                blas.numThreads(), VectorOpsProvider.choice().ops().name(), Parallel.threads(), rounds);
        List<String> json = new ArrayList<>();
        for (int[] s : new int[][] {{512, 768, 768}, {512, 768, 2048}}) {
            int M = s[0], K = s[1], N = s[2];
            var rnd = new SplittableRandom(7);
            float[] A = new float[M * K], B = new float[N * K], C = new float[M * N];
            for (int i = 0; i < A.length; i++) {
                A[i] = (float) rnd.nextDouble(-1, 1);
            }
            for (int i = 0; i < B.length; i++) {
                B[i] = (float) rnd.nextDouble(-1, 1);
            }
            double[] tj = new double[rounds], tb = new double[rounds], cj = new double[rounds], cb = new double[rounds];
            for (int w = 0; w < 20; w++) {   // warm-up: C2 for the kernel, OpenBLAS thread start
                Matmul.matmulABt(C, A, B, M, K, N);
                blas.matmulABt(C, A, B, M, K, N);
            }
            for (int r = 0; r < rounds; r++) {
                long c0 = OS.getProcessCpuTime(), t0 = System.nanoTime();
                Matmul.matmulABt(C, A, B, M, K, N);
                long c1 = OS.getProcessCpuTime(), t1 = System.nanoTime();
                blas.matmulABt(C, A, B, M, K, N);
                long c2 = OS.getProcessCpuTime(), t2 = System.nanoTime();
                tj[r] = (t1 - t0) / 1e6;
                tb[r] = (t2 - t1) / 1e6;
                cj[r] = (c1 - c0) / 1e6;
                cb[r] = (c2 - c1) / 1e6;
            }
            Arrays.sort(tj);
            Arrays.sort(tb);
            double cpuJ = Arrays.stream(cj).sum() / rounds, cpuB = Arrays.stream(cb).sum() / rounds;
            double flop = 2.0 * M * K * N;
            String shape = M + "x" + K + "x" + N;
            System.out.printf(Locale.ROOT, "%s: jlora best %.3f ms (%.0f GFLOPS), median %.3f ms | OpenBLAS best %.3f ms"
                            + " (%.0f GFLOPS), median %.3f ms | jlora/OpenBLAS: %.0f%% (best), %.0f%% (median)%n",
                    shape, tj[0], flop / tj[0] / 1e6, tj[rounds / 2], tb[0], flop / tb[0] / 1e6, tb[rounds / 2],
                    100 * tb[0] / tj[0], 100 * tb[rounds / 2] / tj[rounds / 2]);
            // CPU time of the whole process (all threads) per product: what the work costs when the wall clock
            // is stretched by other processes. OpenBLAS threads that spin while waiting count too. The clock ticks
            // in 10 ms steps on Linux, so only the mean over all rounds means anything.
            System.out.printf(Locale.ROOT, "%s: process CPU per product, mean: jlora %.2f ms, OpenBLAS %.2f ms"
                    + " | jlora/OpenBLAS: %.0f%%%n", shape, cpuJ, cpuB, 100 * cpuB / cpuJ);
            json.add(String.format(Locale.ROOT, "{\"shape\":\"%s\",\"rounds\":%d,\"jloraBestMs\":%.4f,"
                            + "\"jloraMedianMs\":%.4f,\"openblasBestMs\":%.4f,\"openblasMedianMs\":%.4f,"
                            + "\"jloraMeanCpuMs\":%.4f,\"openblasMeanCpuMs\":%.4f,\"loadAverage\":%.2f}",
                    shape, rounds, tj[0], tj[rounds / 2], tb[0], tb[rounds / 2], cpuJ, cpuB,
                    OS.getSystemLoadAverage()));
        }
        if (out != null) {
            Files.writeString(out, "[" + String.join(",\n", json) + "]\n");
            System.out.println("results in " + out);
        }
    }
}
