package dev.jlora.engine.model;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A memory budget ({@code --max-memory}) for what jlora allocates or maps by size: model weights (mapped or on the
 * heap), KV caches and the server's adapter cache. Checks happen before the allocation, so a model that cannot fit
 * fails with a message saying what needed how much, instead of an OutOfMemoryError half way through.
 *
 * @param bytes the budget; {@link Long#MAX_VALUE} means unlimited
 */
public record MemoryBudget(long bytes) {
    public static final MemoryBudget UNLIMITED = new MemoryBudget(Long.MAX_VALUE);

    private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([kmgt]?)(i?b)?", Pattern.CASE_INSENSITIVE);

    public MemoryBudget {
        if (bytes <= 0) {
            throw new IllegalArgumentException("a memory budget must be positive, got " + bytes + " bytes");
        }
    }

    /** Thrown when something does not fit the budget; the message names it, its size and what is left. */
    public static final class ExceededException extends IllegalStateException {
        ExceededException(String message) {
            super(message);
        }
    }

    /** Parses {@code 512M}, {@code 8G}, {@code 1.5GiB}, {@code 64k} or a plain byte count (powers of 1024). */
    public static MemoryBudget parse(String text) {
        Matcher m = SIZE.matcher(text.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("--max-memory: '" + text + "' is not a size (expected e.g. 512M, 8G, 1.5GiB)");
        }
        int shift = switch (m.group(2).toLowerCase(Locale.ROOT)) {
            case "k" -> 10;
            case "m" -> 20;
            case "g" -> 30;
            case "t" -> 40;
            default -> 0;
        };
        double v = Double.parseDouble(m.group(1)) * (1L << shift);
        if (v < 1 || v >= Long.MAX_VALUE) {
            throw new IllegalArgumentException("--max-memory: '" + text + "' is out of range");
        }
        return new MemoryBudget((long) v);
    }

    public boolean unlimited() {
        return bytes == Long.MAX_VALUE;
    }

    /** Bytes left after {@code used}; never negative. */
    public long remaining(long used) {
        return Math.max(0, bytes - used);
    }

    /**
     * Fails unless {@code used + need} fits: {@code what} names the allocation ("model weights of stories110M.gguf"),
     * {@code hint} says how to make it fit.
     */
    public void require(String what, long need, long used, String hint) {
        if (!unlimited() && (need > bytes || used > bytes - need)) {
            throw new ExceededException(String.format(Locale.ROOT, "--max-memory %s: %s need %s but only %s %s; %s",
                    format(bytes), what, format(need), format(remaining(used)), used == 0 ? "is available" : "is left",
                    hint));
        }
    }

    /** "1.50 GiB", "312.0 MiB", "980 bytes". */
    public static String format(long bytes) {
        if (bytes < 1024) {
            return bytes + " bytes";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.2f %s", v, units[u]);
    }

    @Override
    public String toString() {
        return unlimited() ? "unlimited" : format(bytes);
    }
}
