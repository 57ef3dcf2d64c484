package dev.jlora.engine.backend;

/**
 * Discovered through {@link java.util.ServiceLoader} ({@code META-INF/services/dev.jlora.engine.backend.BackendProvider}).
 * {@link #probe} never throws for a missing library or device: it returns {@link Probe#unavailable} with the
 * reason, and the Java backend carries on.
 */
public interface BackendProvider {
    /** The {@code --backend} name this provider answers to. */
    String name();

    /** Higher is preferred by {@code --backend auto} among the available ones (Java is 0). */
    int preference();

    /** Loads the library / finds the device, once per call; the result says why not when it can't. */
    Probe probe();

    /** The outcome of a probe: a backend, or the reason there is none. */
    record Probe(String name, Backend backend, String reason) {
        public Probe {
            if ((backend == null) == (reason == null)) {
                throw new IllegalArgumentException("a probe has either a backend or a reason, not both/neither");
            }
        }

        public static Probe available(Backend backend) {
            return new Probe(backend.name(), backend, null);
        }

        public static Probe unavailable(String name, String reason) {
            return new Probe(name, null, reason);
        }

        public boolean isAvailable() {
            return backend != null;
        }
    }
}
