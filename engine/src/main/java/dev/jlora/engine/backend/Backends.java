package dev.jlora.engine.backend;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.ServiceLoader;
import java.util.stream.Collectors;

/**
 * Finds the backends on this machine and picks one for {@code --backend auto|java|openblas|ggml|cuda}.
 *
 * <p>Providers come from {@link ServiceLoader}; a provider that throws anyway (a bug, or a library that crashes
 * its probe politely) is reported as unavailable with the exception's message rather than taking the JVM down.
 */
public final class Backends {
    private static final System.Logger LOG = System.getLogger(Backends.class.getName());

    /** The names {@code --backend} accepts. */
    public static final List<String> NAMES = List.of("auto", "java", "openblas", "ggml", "cuda");

    private Backends() {}

    /** A chosen backend (routing unsupported ops to Java) and why it was chosen. */
    public record Selection(Backend backend, String reason) {}

    /** Every provider on the class path, probed, most preferred first (Java is always there). */
    public static List<BackendProvider.Probe> discover() {
        return discover(providers());
    }

    /** Probes the given providers, most preferred first; adds Java if missing. */
    static List<BackendProvider.Probe> discover(List<BackendProvider> providers) {
        List<BackendProvider> sorted = new ArrayList<>(providers);
        if (sorted.stream().noneMatch(p -> p.name().equals("java"))) {
            sorted.add(new JavaBackend.Provider());
        }
        sorted.sort(Comparator.comparingInt(BackendProvider::preference).reversed());
        List<BackendProvider.Probe> out = new ArrayList<>();
        for (BackendProvider p : sorted) {
            BackendProvider.Probe probe;
            try {
                probe = p.probe();
            } catch (RuntimeException | LinkageError e) {
                probe = BackendProvider.Probe.unavailable(p.name(), "probe failed: " + e);
            }
            out.add(probe);
        }
        return out;
    }

    /**
     * {@link #select(String, List)} probing only what the request needs: nothing for {@code java}, the named
     * provider for a name, every provider for {@code auto} (a probe may load native libraries).
     */
    public static Selection select(String requested) {
        String name = requested == null ? "auto" : requested.trim().toLowerCase(Locale.ROOT);
        if (name.equals("java")) {
            return new Selection(JavaBackend.INSTANCE, "requested: " + JavaBackend.INSTANCE.description());
        }
        if (name.equals("auto") || !NAMES.contains(name)) {
            return select(requested, discover());
        }
        return select(requested, discover(providers().stream().filter(p -> p.name().equals(name)).toList()));
    }

    private static List<BackendProvider> providers() {
        return ServiceLoader.load(BackendProvider.class, Backends.class.getClassLoader()).stream()
                .map(ServiceLoader.Provider::get).toList();
    }

    /**
     * {@code auto}: the most preferred available backend, logged with the reasons the better ones were skipped.
     * Any other name: that backend, or {@link BackendUnavailableException} saying why it can't run here.
     */
    public static Selection select(String requested, List<BackendProvider.Probe> probes) {
        String name = requested == null ? "auto" : requested.trim().toLowerCase(Locale.ROOT);
        if (!NAMES.contains(name)) {
            throw new IllegalArgumentException("unknown backend '" + requested + "'; expected one of " + NAMES);
        }
        if (name.equals("auto")) {
            List<String> skipped = new ArrayList<>();
            for (BackendProvider.Probe p : probes) {
                if (p.isAvailable()) {
                    String reason = "auto: " + p.name() + " is the most preferred available backend"
                            + (skipped.isEmpty() ? "" : " (skipped " + String.join("; ", skipped) + ")");
                    LOG.log(System.Logger.Level.INFO, reason);
                    return new Selection(new RoutedBackend(p.backend()), reason);
                }
                skipped.add(p.name() + ": " + p.reason());
            }
            return new Selection(JavaBackend.INSTANCE, "auto: java (no provider available)");
        }
        for (BackendProvider.Probe p : probes) {
            if (p.name().equals(name)) {
                if (!p.isAvailable()) {
                    throw new BackendUnavailableException("backend '" + name + "' is not available: " + p.reason());
                }
                return new Selection(new RoutedBackend(p.backend()), "requested: " + p.backend().description());
            }
        }
        throw new BackendUnavailableException("backend '" + name + "' is not available: no provider on the class path"
                + " (it lives in jlora-ffm-bindings); found " + probes.stream().map(BackendProvider.Probe::name)
                .collect(Collectors.joining(", ")));
    }

    /** One line per backend for {@code jlora --version}: name, then what it runs on or why it can't. */
    public static List<String> describe(List<BackendProvider.Probe> probes) {
        return probes.stream().map(p -> p.isAvailable()
                ? p.name() + ": available (" + p.backend().description() + ")"
                : p.name() + ": unavailable (" + p.reason() + ")").toList();
    }
}
