package dev.jlora.engine.dynamics;

import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.train.TrainingHook;

/**
 * LoRA+ (Hayou, Ghosh &amp; Yu 2024, "LoRA+: Efficient Low Rank Adaptation of Large Models", §4): with width n, A and
 * B need learning rates of different order for efficient feature learning, so B is trained with λ times A's rate
 * (the paper recommends λ ≈ 2⁴). Implemented as PEFT's {@code create_loraplus_optimizer} does: every {@code lora_B}
 * tensor (LoRA and DoRA) gets {@code lr · loraplus_lr_ratio}; everything else keeps the scheduled rate.
 */
public final class LoraPlus implements TrainingHook {
    private static final String B_SUFFIX = "lora_B";
    private final double ratio;

    public LoraPlus(TrainableAdapterSet adapters, double ratio) {
        if (!(ratio > 0) || !Double.isFinite(ratio)) {
            throw new IllegalArgumentException("loraplus: loraplus_lr_ratio must be a positive number, got " + ratio);
        }
        if (adapters.parameters().stream().noneMatch(LoraPlus::isB)) {
            throw new IllegalArgumentException("loraplus needs adapters with lora_B matrices (methods lora, dora); "
                    + "these adapters have none");
        }
        this.ratio = ratio;
    }

    private static boolean isB(Parameter p) {
        return p.name().endsWith(B_SUFFIX);
    }

    @Override
    public String name() {
        return "loraplus";
    }

    @Override
    public double lrScale(Parameter p) {
        return isB(p) ? ratio : 1;
    }
}
