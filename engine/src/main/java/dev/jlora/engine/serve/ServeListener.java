package dev.jlora.engine.serve;

/** Streaming callbacks of one request, called on the scheduler thread (must not block). */
public interface ServeListener {
    /** {@code text} is new final text (never a part of a stop string or of a multi-byte character). */
    void onText(String text);

    /** The request ended normally or was cancelled; no call follows. */
    void onFinish(ServeResult result);

    /** The request failed; no call follows. */
    void onError(Exception error);

    ServeListener NONE = new ServeListener() {
        @Override public void onText(String text) { }
        @Override public void onFinish(ServeResult result) { }
        @Override public void onError(Exception error) { }
    };
}
