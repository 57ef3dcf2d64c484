package dev.jlora.loaders;

import dev.jlora.quant.QuantType;

/**
 * Which format a linear weight gets when quantizing to a requested format: the request itself when the row
 * length suits its block size, otherwise llama.cpp's fallback ({@code llama-quant.cpp},
 * {@code llama_tensor_get_type}: a K-quant on rows not divisible by 256 falls back to a 32-block format of
 * similar size, and rows not divisible by 32 to F16). jlora adds NF4 → Q4_0 for rows not divisible by 64.
 */
public final class QuantPlan {

    private QuantPlan() {}

    /** The format for a weight with rows of {@code cols} elements when {@code wanted} is requested. */
    public static QuantType forColumns(QuantType wanted, int cols) {
        QuantType t = wanted;
        if (cols % t.blockSize() != 0) {
            t = switch (t) {
                case Q4_K -> QuantType.Q5_0;
                case Q5_K -> QuantType.Q5_1;
                case Q6_K, Q8_K -> QuantType.Q8_0;
                case NF4 -> QuantType.Q4_0;
                default -> t;
            };
        }
        return cols % t.blockSize() == 0 ? t : QuantType.F16;
    }

    /** Parses a CLI name: none, nf4, q4_0, q4_k, q8_0, … (any QuantType, any case); "none" gives null. */
    public static QuantType parse(String name) {
        String n = name.trim().toUpperCase(java.util.Locale.ROOT);
        if (n.equals("NONE") || n.isEmpty()) {
            return null;
        }
        try {
            return QuantType.valueOf(n);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown quant type '" + name + "': expected none, nf4, q4_0, q4_k, "
                    + "q8_0 or another of " + java.util.Arrays.toString(QuantType.values()));
        }
    }
}
