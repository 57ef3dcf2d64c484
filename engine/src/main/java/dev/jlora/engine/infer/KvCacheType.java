package dev.jlora.engine.infer;

import java.util.Locale;

/**
 * How a KV cache stores keys and values. F16 halves the cache (llama.cpp's default type for both); attention widens
 * a page's slice back to fp32 before it multiplies, so only the stored values are rounded (to 11 significant bits).
 */
public enum KvCacheType {
    F32(Float.BYTES),
    F16(Short.BYTES);

    private final int bytes;

    KvCacheType(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per stored value. */
    public int bytes() {
        return bytes;
    }

    /** The type named {@code name} ("f32" or "f16", any case). */
    public static KvCacheType parse(String name) {
        for (KvCacheType t : values()) {
            if (t.name().equalsIgnoreCase(name)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown KV cache type '" + name + "': expected f32 or f16");
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
