package dev.jlora.engine.adapter;

import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Hyper-parameters given as strings ({@code --method-arg k=v}, adapter-file metadata), with typed access and
 * defaults; every error names the method and the key.
 *
 * @param owner the method or training hook the values belong to, for messages
 */
public record HyperParams(String owner, Map<String, String> values) {

    public HyperParams {
        values = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(values));   // keeps the user's order
    }

    /** Fails, naming the known keys, when {@code values} has a key outside {@code known}. */
    public HyperParams requireKnown(Set<String> known) {
        for (String k : values.keySet()) {
            if (!known.contains(k)) {
                throw new IllegalArgumentException(owner + " has no hyper-parameter '" + k + "' (knows "
                        + new TreeSet<>(known) + ")");
            }
        }
        return this;
    }

    public String str(String key, String dflt) {
        return values.getOrDefault(key, dflt);
    }

    public int integer(String key, int dflt) {
        return parse(key, dflt, Integer::parseInt, "a whole number");
    }

    public long longValue(String key, long dflt) {
        return parse(key, dflt, Long::parseLong, "a whole number");
    }

    public float real(String key, float dflt) {
        return parse(key, dflt, Float::parseFloat, "a number");
    }

    private <T> T parse(String key, T dflt, java.util.function.Function<String, T> parser, String expected) {
        String v = values.get(key);
        try {
            return v == null ? dflt : parser.apply(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(owner + ": '" + key + "' must be " + expected + ", got '" + v + "'");
        }
    }

    /** False when absent. */
    public boolean bool(String key) {
        String v = values.get(key);
        if (v == null) {
            return false;
        }
        return switch (v.trim().toLowerCase(Locale.ROOT)) {
            case "true", "1", "yes" -> true;
            case "false", "0", "no" -> false;
            default -> throw new IllegalArgumentException(owner + ": '" + key + "' must be true or false, got '" + v + "'");
        };
    }

    /** The common LoRA keys: rank (8), alpha (16), dropout (0), rs_lora (false). */
    public LoraConfig lora(Set<Target> targets) {
        return new LoraConfig(integer("rank", 8), real("alpha", 16), real("dropout", 0), bool("rs_lora"), targets);
    }
}
