package dev.jlora.engine.backend;

/** A requested backend cannot run here; the message names the backend and why (missing library, no device). */
public final class BackendUnavailableException extends IllegalStateException {
    public BackendUnavailableException(String message) {
        super(message);
    }
}
