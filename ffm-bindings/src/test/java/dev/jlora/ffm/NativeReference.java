package dev.jlora.ffm;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.Optional;

/** Finds libllama for tests: skips when it is missing outside CI, fails when it is missing under CI. */
public final class NativeReference {
    private NativeReference() {}

    public static LlamaLib llamaOrSkip() {
        Path dir = LlamaLib.defaultDirectory();
        Optional<LlamaLib> lib = LlamaLib.load(dir);
        if (lib.isEmpty()) {
            String msg = "libllama not found/usable in " + dir + " (run scripts/fetch-llama-natives.sh)";
            if (System.getenv("CI") != null) {
                fail(msg + "; under CI the llama.cpp reference is required");
            }
            assumeTrue(false, msg);
        }
        return lib.get();
    }

    /** The fixtures folder (shared/models), from the build's {@code jlora.models} property. */
    public static Path models() {
        String p = System.getProperty("jlora.models");
        if (p == null) {
            fail("system property jlora.models is not set (the build sets it to <repo>/../shared/models)");
        }
        return Path.of(p);
    }
}
