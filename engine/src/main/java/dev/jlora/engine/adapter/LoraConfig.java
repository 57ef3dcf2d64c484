package dev.jlora.engine.adapter;

import java.util.EnumSet;
import java.util.Set;

/**
 * LoRA hyperparameters (Hu et al. 2021), with PEFT's names and defaults in mind.
 *
 * @param rank    r
 * @param alpha   lora_alpha; the update is scaled by alpha / r (or alpha / √r with {@code rsLora})
 * @param dropout probability of zeroing an adapter input element during training (PEFT's lora_dropout)
 * @param rsLora  rank-stabilised scaling alpha / √r (Kalajdzievski 2023)
 * @param targets the linear layers of every block that get an adapter
 */
public record LoraConfig(int rank, float alpha, float dropout, boolean rsLora, Set<Target> targets) {

    public LoraConfig {
        if (rank <= 0) {
            throw new IllegalArgumentException("LoRA rank must be positive, got " + rank);
        }
        checkAlpha("LoRA", alpha);
        if (!(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("LoRA dropout must be in [0, 1), got " + dropout);
        }
        if (targets.isEmpty()) {
            throw new IllegalArgumentException("LoRA needs at least one target module");
        }
        targets = Set.copyOf(EnumSet.copyOf(targets));
    }

    /** The scale s applied to B·A: alpha / r, or alpha / √r for rsLoRA. */
    public float scale() {
        return rsLora ? (float) (alpha / Math.sqrt(rank)) : alpha / rank;
    }

    /** Parses "q,k,v,o", "all-linear" (all seven projections) or "attention" (q,k,v,o). */
    public static Set<Target> parseTargets(String spec) {
        String s = spec.trim();
        if (s.equalsIgnoreCase("all-linear") || s.equalsIgnoreCase("all")) {
            return EnumSet.allOf(Target.class);
        }
        if (s.equalsIgnoreCase("attention")) {
            return EnumSet.of(Target.Q, Target.K, Target.V, Target.O);
        }
        EnumSet<Target> out = EnumSet.noneOf(Target.class);
        for (String part : s.split(",")) {
            if (!part.isBlank()) {
                out.add(Target.parse(part));
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("no target modules in '" + spec + "'");
        }
        return out;
    }

    /** The scaling numerator alpha of {@code method}: a positive finite number. */
    static void checkAlpha(String method, float alpha) {
        if (!(alpha > 0) || Float.isInfinite(alpha)) {
            throw new IllegalArgumentException(method + " alpha must be a positive finite number, got " + alpha);
        }
    }
}
