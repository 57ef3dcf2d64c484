package dev.jlora.loaders.gguf;

import java.util.Objects;

/**
 * One GGUF metadata value and its stored type. {@code value} is a {@code Long} for every integer type
 * (UINT64 as raw bits), {@code Float} for FLOAT32, {@code Double} for FLOAT64, {@code Boolean},
 * {@code String} or {@link GgufArray}.
 */
public record GgufValue(GgufType type, Object value) {

    public GgufValue {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(value, "value");
        boolean ok = switch (type) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> value instanceof Long;
            case FLOAT32 -> value instanceof Float;
            case FLOAT64 -> value instanceof Double;
            case BOOL -> value instanceof Boolean;
            case STRING -> value instanceof String;
            case ARRAY -> value instanceof GgufArray;
        };
        if (!ok) {
            throw new IllegalArgumentException(type + " cannot hold a " + value.getClass().getSimpleName());
        }
        if (value instanceof Long l) {
            checkRange(type, l, "value");
        }
    }

    public static GgufValue uint8(int v) {
        return new GgufValue(GgufType.UINT8, (long) v);
    }

    public static GgufValue int8(int v) {
        return new GgufValue(GgufType.INT8, (long) v);
    }

    public static GgufValue uint16(int v) {
        return new GgufValue(GgufType.UINT16, (long) v);
    }

    public static GgufValue int16(int v) {
        return new GgufValue(GgufType.INT16, (long) v);
    }

    public static GgufValue uint32(long v) {
        return new GgufValue(GgufType.UINT32, v);
    }

    public static GgufValue int32(int v) {
        return new GgufValue(GgufType.INT32, (long) v);
    }

    /** UINT64 from its raw 64 bits. */
    public static GgufValue uint64(long v) {
        return new GgufValue(GgufType.UINT64, v);
    }

    public static GgufValue int64(long v) {
        return new GgufValue(GgufType.INT64, v);
    }

    public static GgufValue float32(float v) {
        return new GgufValue(GgufType.FLOAT32, v);
    }

    public static GgufValue float64(double v) {
        return new GgufValue(GgufType.FLOAT64, v);
    }

    public static GgufValue bool(boolean v) {
        return new GgufValue(GgufType.BOOL, v);
    }

    public static GgufValue string(String v) {
        return new GgufValue(GgufType.STRING, v);
    }

    public static GgufValue array(GgufArray v) {
        return new GgufValue(GgufType.ARRAY, v);
    }

    static void checkRange(GgufType type, long v, String what) {
        boolean ok = switch (type) {
            case UINT8 -> v >= 0 && v <= 0xFF;
            case INT8 -> v >= Byte.MIN_VALUE && v <= Byte.MAX_VALUE;
            case UINT16 -> v >= 0 && v <= 0xFFFF;
            case INT16 -> v >= Short.MIN_VALUE && v <= Short.MAX_VALUE;
            case UINT32 -> v >= 0 && v <= 0xFFFF_FFFFL;
            case INT32 -> v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE;
            default -> true;
        };
        if (!ok) {
            throw new IllegalArgumentException(what + " " + v + " does not fit in " + type);
        }
    }

    @Override
    public String toString() {
        return switch (value) {
            case String s -> '"' + s + '"';
            case Long l when type == GgufType.UINT64 -> Long.toUnsignedString(l);
            default -> value.toString();
        };
    }
}
