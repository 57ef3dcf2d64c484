package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The standalone image of {@code scripts/dist.sh}, built from the jars of this build and run the way a user runs it:
 * moved to another directory (as when a tarball is unpacked), from an empty working directory, with no JDK on the
 * PATH and no JAVA_HOME. Runs in the {@code package} phase of the cli module (after the jars exist; see cli/pom.xml),
 * so {@code ./build verify} runs it and {@code ./build test} does not.
 */
@Tag("dist")
class DistImageIT {

    @Test
    void imageRunsTheDemoModelFromACleanDirectoryWithItsOwnRuntimeAndCdsArchive(@TempDir Path tmp)
            throws IOException, InterruptedException {
        // -Dtest=DistImageIT also selects it in the test phase, before this build's jars exist: it runs only in the
        // package-phase execution, which sets this property.
        Assumptions.assumeTrue(System.getProperty("jlora.dist.jars") != null,
                "runs in the package phase, on the jars just packaged (./build package or verify)");
        Path jdk = Path.of(System.getProperty("java.home"));
        Assumptions.assumeTrue(Files.isExecutable(jdk.resolve("bin/jlink")), "no jlink in " + jdk + " (a JRE?)");
        Path repo = Path.of(System.getProperty("jlora.repo")).toAbsolutePath();
        Path built = Files.createDirectories(tmp.resolve("built"));
        Run dist = run(repo, Map.of("JAVA_HOME", jdk.toString(), "PATH", System.getenv("PATH")),
                "bash", repo.resolve("scripts/dist.sh").toString(), "--no-build", "--no-tar", "--out", built.toString());
        assertEquals(0, dist.code, dist.out + dist.err);

        Path image;
        try (var names = Files.list(built)) {
            image = names.filter(p -> p.getFileName().toString().matches("jlora-.+-linux-.+")).findFirst().orElseThrow();
        }
        Path unpacked = Files.move(image, Files.createDirectories(tmp.resolve("opt")).resolve(image.getFileName()));
        Path work = Files.createDirectories(tmp.resolve("work"));
        Path classLoad = tmp.resolve("class-load.txt");
        var env = Map.of("PATH", "/usr/bin:/bin",
                "JLORA_JAVA_OPTS", "-Xlog:class+load=info:file=" + classLoad);
        Path jlora = unpacked.resolve("bin/jlora");

        Run gen = run(work, env, jlora.toString(), "generate", "demo", "--prompt", "Once upon a time",
                "--max-tokens", "60", "--temperature", "0", "--ignore-eos");
        assertEquals(0, gen.code, gen.err);
        assertEquals(GenerateCommandTest.GOLDEN + "\n", gen.out, "greedy demo output of the image (golden text)");
        try (var files = Files.list(work)) {
            assertEquals(0, files.count(), "a run of the image must not write into the working directory");
        }
        // The archive is used after the move: the CLI's classes are mapped from it, not loaded from the jar.
        String loads = Files.readString(classLoad, StandardCharsets.UTF_8);
        assertTrue(loads.contains("dev.jlora.cli.Main source: shared objects file"),
                "dev.jlora.cli.Main not loaded from the CDS archive:\n" + loads.lines().filter(l -> l.contains("dev.jlora"))
                        .limit(5).toList());

        // Only the modules jlora needs (jdeps' list plus the Vector API), nothing of the rest of the JDK.
        String release = Files.readString(unpacked.resolve("runtime/release"), StandardCharsets.UTF_8);
        Set<String> modules = new TreeSet<>(List.of(release.lines().filter(l -> l.startsWith("MODULES="))
                .findFirst().orElseThrow().replaceAll("MODULES=|\"", "").split(" ")));
        assertTrue(modules.containsAll(Set.of("java.base", "jdk.incubator.vector", "jdk.httpserver")), modules.toString());
        assertTrue(modules.size() <= 6, "runtime has more modules than jlora uses: " + modules);

        Run version = run(work, Map.of("PATH", "/usr/bin:/bin"), jlora.toString(), "--version");
        assertEquals(0, version.code, version.err);
        assertTrue(version.out.matches("(?s)jlora \\d+\\.\\d+\\.\\d+.*Java 25.*java: available.*"), version.out);
        assertTrue(Files.readString(unpacked.resolve("share/completion/jlora.bash")).contains("generate"));
        assertTrue(Files.isRegularFile(unpacked.resolve("models/LICENSE-llama2.c.txt")), "demo model licence missing");
    }

    private record Run(int code, String out, String err) {}

    /** Runs a command with exactly {@code env} as its environment, from {@code dir}. */
    private static Run run(Path dir, Map<String, String> env, String... command) throws IOException, InterruptedException {
        var pb = new ProcessBuilder(command).directory(dir.toFile());
        pb.environment().clear();
        pb.environment().putAll(env);
        Path out = Files.createTempFile("dist-out", ".txt"), err = Files.createTempFile("dist-err", ".txt");
        try {
            Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!p.waitFor(5, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new AssertionError(String.join(" ", command) + " did not finish in 5 minutes");
            }
            return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
