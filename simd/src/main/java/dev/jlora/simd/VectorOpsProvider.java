package dev.jlora.simd;

import java.lang.System.Logger.Level;
import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * Chooses the {@link VectorOps} implementation once per JVM and logs the choice (Lucene's
 * {@code VectorizationProvider} pattern).
 *
 * <p>{@link PanamaOps} is loaded by name, and only after the checks pass, so a JVM started without
 * {@code --add-modules jdk.incubator.vector} never touches a Vector API class. Keep Vector API constants out of
 * this class and out of anything it loads before the checks.
 *
 * <p>{@code -Djlora.simd=scalar} forces {@link ScalarOps}; {@code -Djlora.simd=panama} makes a failed check an
 * error instead of a fallback.
 */
public final class VectorOpsProvider {
    private static final System.Logger LOG = System.getLogger(VectorOpsProvider.class.getName());

    /** What was chosen and why. */
    public record Choice(VectorOps ops, String reason) {}

    private static final Choice CHOICE = choose(System.getProperty("jlora.simd", "auto"));
    static final VectorOps INSTANCE = CHOICE.ops();

    static {
        LOG.log(CHOICE.ops() instanceof ScalarOps && !CHOICE.reason().contains("jlora.simd")
                ? Level.WARNING : Level.INFO, "jlora simd kernels: " + CHOICE.ops().name() + " (" + CHOICE.reason() + ")");
    }

    private VectorOpsProvider() {}

    /** Whether the Vector API implementation was chosen (Matmul and quant pick their Panama paths by this). */
    public static boolean panama() {
        return !(INSTANCE instanceof ScalarOps);
    }

    /** The choice made for this JVM, with its reason (for {@code jlora info} and logs). */
    public static Choice choice() {
        return CHOICE;
    }

    /** Applies the checks for the given value of {@code jlora.simd} ({@code auto}, {@code scalar}, {@code panama}). */
    static Choice choose(String setting) {
        String s = setting.trim().toLowerCase(Locale.ROOT);
        switch (s) {
            case "scalar":
                return new Choice(ScalarOps.INSTANCE, "requested by -Djlora.simd=scalar");
            case "auto", "", "panama":
                break;
            default:
                throw new IllegalArgumentException("-Djlora.simd=" + setting + ": expected auto, scalar or panama");
        }
        String problem = panamaProblem();
        if (problem == null) {
            try {
                VectorOps ops = loadPanama();
                return new Choice(ops, "jdk.incubator.vector present and C2 enabled");
            } catch (ReflectiveOperationException | LinkageError e) {
                problem = "loading PanamaOps failed: " + e;
            }
        }
        if (s.equals("panama")) {
            throw new IllegalStateException("-Djlora.simd=panama, but " + problem);
        }
        return new Choice(ScalarOps.INSTANCE, problem);
    }

    /** Why the Vector API must not be used here, or null if nothing is known against it. */
    private static String panamaProblem() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return "module jdk.incubator.vector is not in the boot layer; start java with --add-modules jdk.incubator.vector";
        }
        String vm = System.getProperty("java.vm.name", "");
        if (!vm.contains("HotSpot") && !vm.contains("OpenJDK")) {
            return "JVM '" + vm + "' is not HotSpot; the Vector API is only intrinsified by HotSpot's C2";
        }
        String c2 = c2Problem();
        if (c2 != null) {
            return c2;
        }
        return null;
    }

    /** Without C2 every vector operation is a boxed scalar loop, much slower than ScalarOps. */
    private static String c2Problem() {
        try {
            var args = ManagementFactory.getRuntimeMXBean().getInputArguments();
            for (String a : args) {
                if (a.equals("-XX:TieredStopAtLevel=1") || a.equals("-XX:TieredStopAtLevel=2")
                        || a.equals("-XX:TieredStopAtLevel=3") || a.equals("-XX:TieredStopAtLevel=0")
                        || a.equals("-XX:-UseCompiler") || a.equals("-Xint")) {
                    return "C2 is disabled by " + a;
                }
            }
        } catch (LinkageError | RuntimeException e) {
            // java.management missing (jlinked image): cannot check, assume the default (C2 on).
        }
        return null;
    }

    private static VectorOps loadPanama() throws ReflectiveOperationException {
        Class<?> c = Class.forName("dev.jlora.simd.PanamaOps");
        return (VectorOps) c.getField("INSTANCE").get(null);
    }
}
