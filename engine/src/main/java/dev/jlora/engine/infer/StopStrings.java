package dev.jlora.engine.infer;

import java.util.List;

/**
 * Watches streamed text for stop strings. Text that might be the start of a stop string is held back until the
 * following text decides it, so a stop string never reaches the listener, not even in part.
 */
public final class StopStrings {
    private final List<String> stops;
    private final StringBuilder text = new StringBuilder();   // everything released so far
    private final StringBuilder pending = new StringBuilder();
    private boolean stopped;

    public StopStrings(List<String> stops) {
        this.stops = stops;
    }

    /** Adds {@code piece}; returns the text now safe to release (maybe empty). */
    public String append(String piece) {
        if (stopped) {
            throw new IllegalStateException("already stopped");
        }
        pending.append(piece);
        int cut = -1;
        for (String s : stops) {
            int i = pending.indexOf(s);
            if (i >= 0 && (cut < 0 || i < cut)) {
                cut = i;
            }
        }
        if (cut >= 0) {
            stopped = true;
            pending.setLength(cut);
            return release(cut);
        }
        return release(holdFrom());
    }

    /** Releases whatever is held back (the stream ended without a stop string). */
    public String finish(String tail) {
        if (!stopped) {
            pending.append(tail);
        }
        return release(pending.length());
    }

    public boolean stopped() {
        return stopped;
    }

    /** All released text. */
    public String text() {
        return text.toString();
    }

    /** Start of the shortest suffix of pending that is a proper prefix of some stop string, or its length. */
    private int holdFrom() {
        int len = pending.length();
        if (stops.isEmpty()) {
            return len;
        }
        String p = pending.toString();
        for (int from = 0; from < len; from++) {
            int n = len - from;
            for (String s : stops) {
                if (n < s.length() && s.regionMatches(0, p, from, n)) {
                    return from;
                }
            }
        }
        return len;
    }

    private String release(int upTo) {
        String out = pending.substring(0, upTo);
        pending.delete(0, upTo);
        text.append(out);
        return out;
    }
}
