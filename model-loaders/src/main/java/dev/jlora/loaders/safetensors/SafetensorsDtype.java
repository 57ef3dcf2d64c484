package dev.jlora.loaders.safetensors;

import dev.jlora.quant.QuantType;

/** Element types of the safetensors format (huggingface/safetensors {@code Dtype}). */
public enum SafetensorsDtype {
    BOOL(1), U8(1), I8(1), F8_E5M2(1), F8_E4M3(1), I16(2), U16(2), F16(2), BF16(2), I32(4), U32(4), F32(4),
    I64(8), U64(8), F64(8);

    private final int size;

    SafetensorsDtype(int size) {
        this.size = size;
    }

    /** Bytes per element. */
    public int size() {
        return size;
    }

    /** The jlora storage type for F32, F16 and BF16; null for the others (jlora does not load them as weights). */
    public QuantType quantType() {
        return switch (this) {
            case F32 -> QuantType.F32;
            case F16 -> QuantType.F16;
            case BF16 -> QuantType.BF16;
            default -> null;
        };
    }

    /** The dtype for a jlora storage type (F32, F16, BF16), or null. */
    public static SafetensorsDtype of(QuantType t) {
        return switch (t) {
            case F32 -> F32;
            case F16 -> F16;
            case BF16 -> BF16;
            default -> null;
        };
    }

    /** The dtype named {@code name} in a header, or null. */
    public static SafetensorsDtype parse(String name) {
        for (SafetensorsDtype d : values()) {
            if (d.name().equals(name)) {
                return d;
            }
        }
        return null;
    }
}
