package dev.jlora.simd;

import java.util.ArrayList;
import java.util.List;

/** Which implementations exist on this JVM. Panama is skipped (assumeTrue) only when the module is missing. */
final class KernelTesting {
    static final String NO_PANAMA =
            "jdk.incubator.vector is not in the boot layer (run with --add-modules jdk.incubator.vector)";

    private KernelTesting() {}

    static VectorOps panamaOrNull() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return null;
        }
        return PanamaOps.INSTANCE;
    }

    static List<VectorOps> implementations() {
        var all = new ArrayList<VectorOps>();
        all.add(ScalarOps.INSTANCE);
        if (panamaOrNull() != null) {
            all.add(PanamaOps.INSTANCE);
        }
        return all;
    }
}
