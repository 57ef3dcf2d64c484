package dev.jlora.fuzz;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Files for fuzz inputs: the readers under test take paths (they memory-map), so each input is written to a
 * fixed name in one scratch directory of this JVM (one fuzz target runs per JVM), overwriting the last input.
 */
final class FuzzInputs {
    private FuzzInputs() {}

    /** Per-target time budget: CI fuzzes every target this long (one JVM each); scripts/fuzz.sh repeats runs. */
    static final String BUDGET = "10s";

    private static final Path DIR = createDir();

    private static Path createDir() {
        try {
            Path d = Files.createTempDirectory("jlora-fuzz");
            d.toFile().deleteOnExit();
            return d;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes {@code data} to {@code name} in the scratch directory and returns the path. */
    static Path file(String name, byte[] data) {
        try {
            Path p = DIR.resolve(name);
            Files.write(p, data);
            p.toFile().deleteOnExit();
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A scratch subdirectory {@code name} (created once). */
    static Path dir(String name) {
        try {
            return Files.createDirectories(DIR.resolve(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A file of ../shared/models (system property jlora.models, set by the build). */
    static Path model(String name) {
        return Path.of(System.getProperty("jlora.models", "../shared/models")).resolve(name);
    }
}
