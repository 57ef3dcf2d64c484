package dev.jlora.engine.merge;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** How {@link AdapterMerger} combines the adapters' updates (see the classes named for the papers). */
public enum MergeMethod {
    /** Σ wᵢ·ΔWᵢ (task arithmetic); exact in factored form for LoRAs. */
    LINEAR("linear"),
    /** TIES-Merging ({@link TaskVectors}). */
    TIES("ties"),
    /** DARE drop-and-rescale, then Σ wᵢ·ΔWᵢ ({@link TaskVectors}). */
    DARE("dare"),
    /** DARE drop-and-rescale, then TIES sign election and disjoint mean ({@link TaskVectors}). */
    DARE_TIES("dare_ties"),
    /** Rank-wise clustering of LoRA units ({@link LoraLego}). */
    LORA_LEGO("lora-lego");

    private final String cliName;

    MergeMethod(String cliName) {
        this.cliName = cliName;
    }

    public String cliName() {
        return cliName;
    }

    /** Whether the method needs {@code density} (the fraction of entries kept). */
    public boolean usesDensity() {
        return this == TIES || this == DARE || this == DARE_TIES;
    }

    public static MergeMethod parse(String s) {
        String key = s.trim().toLowerCase(Locale.ROOT).replace('_', '-');
        for (MergeMethod m : values()) {
            if (m.cliName.replace('_', '-').equals(key)) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown merge method '" + s + "': expected one of "
                + Arrays.stream(values()).map(MergeMethod::cliName).collect(Collectors.joining(", ")));
    }
}
