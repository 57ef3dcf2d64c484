package dev.jlora.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Starts a JVM without {@code --add-modules jdk.incubator.vector} and checks that the provider falls back to
 * ScalarOps, says why, still computes (Matmul included), and never loads PanamaOps or a Vector API class.
 */
class NoVectorModuleTest {

    /** Run in the child JVM: prints the choice and a small matmul result. */
    public static void main(String[] args) {
        var choice = VectorOpsProvider.choice();
        float[] c = new float[4];
        Matmul.matmulABt(c, new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, new float[] {1, 0, 0, 0, 1, 0}, 4, 3, 1);
        System.out.println("CHOICE " + choice.ops().name() + " | " + choice.reason());
        System.out.println("DOT " + VectorOps.get().dot(new float[] {1, 2, 3}, new float[] {4, 5, 6}, 3));
        System.out.println("MATMUL " + c[0] + " " + c[1] + " " + c[2] + " " + c[3]);
    }

    @Test
    void fallsBackToScalarWithoutLoadingVectorClasses() throws IOException, InterruptedException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        var pb = new ProcessBuilder(List.of(java.toString(), "-Xshare:off", "-verbose:class", "-cp",
                System.getProperty("java.class.path"), NoVectorModuleTest.class.getName()));
        pb.redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child JVM timed out");
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("CHOICE scalar | module jdk.incubator.vector is not in the boot layer"), out);
        assertTrue(out.contains("DOT 32.0"), out);
        assertTrue(out.contains("MATMUL 1.0 4.0 7.0 10.0"), out);
        assertFalse(out.contains("dev.jlora.simd.PanamaOps"), "PanamaOps was loaded");
        assertFalse(out.contains("dev.jlora.simd.PanamaMatmul"), "PanamaMatmul was loaded");
        assertFalse(out.contains("jdk.incubator.vector."), "a Vector API class was loaded");
    }
}
