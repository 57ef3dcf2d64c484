package dev.jlora.loaders.gguf;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A GGUF metadata array: one element type, any length, possibly nested. Integers of every width are held as
 * {@code long} (UINT64 as its raw 64 bits), FLOAT32 as {@code float}, FLOAT64 as {@code double}. Immutable;
 * bulk accessors return copies.
 */
public final class GgufArray {

    private final GgufType elementType;
    private final Object data; // long[] | float[] | double[] | boolean[] | String[] | GgufArray[]

    private GgufArray(GgufType elementType, Object data) {
        this.elementType = elementType;
        this.data = data;
    }

    /** An array of integers of {@code type} (UINT8 … INT64); each value must fit the type. */
    public static GgufArray ofIntegers(GgufType type, long... values) {
        if (!type.isInteger()) {
            throw new IllegalArgumentException("ofIntegers needs an integer type, got " + type);
        }
        for (int i = 0; i < values.length; i++) {
            GgufValue.checkRange(type, values[i], "element " + i);
        }
        return new GgufArray(type, values.clone());
    }

    /** An array of integers of {@code type} (UINT8 … INT64) from ints; each value must fit the type. */
    public static GgufArray ofIntegers(GgufType type, int... values) {
        return ofIntegers(type, Arrays.stream(values).asLongStream().toArray());
    }

    public static GgufArray ofFloats(float... values) {
        return new GgufArray(GgufType.FLOAT32, values.clone());
    }

    public static GgufArray ofDoubles(double... values) {
        return new GgufArray(GgufType.FLOAT64, values.clone());
    }

    public static GgufArray ofBools(boolean... values) {
        return new GgufArray(GgufType.BOOL, values.clone());
    }

    public static GgufArray ofStrings(List<String> values) {
        String[] a = values.toArray(String[]::new);
        for (String s : a) {
            Objects.requireNonNull(s, "null string in GGUF array");
        }
        return new GgufArray(GgufType.STRING, a);
    }

    /** A nested array (GGUF ARRAY of ARRAY). */
    public static GgufArray ofArrays(List<GgufArray> values) {
        GgufArray[] a = values.toArray(GgufArray[]::new);
        for (GgufArray x : a) {
            Objects.requireNonNull(x, "null element in nested GGUF array");
        }
        return new GgufArray(GgufType.ARRAY, a);
    }

    /** Wraps arrays the reader allocated; no copy. */
    static GgufArray wrap(GgufType elementType, Object data) {
        return new GgufArray(elementType, data);
    }

    public GgufType elementType() {
        return elementType;
    }

    public int size() {
        return switch (data) {
            case long[] a -> a.length;
            case float[] a -> a.length;
            case double[] a -> a.length;
            case boolean[] a -> a.length;
            case String[] a -> a.length;
            case GgufArray[] a -> a.length;
            default -> throw new IllegalStateException();
        };
    }

    /** Integer element i (UINT64 as raw bits). */
    public long getLong(int i) {
        if (data instanceof long[] a) {
            return a[i];
        }
        throw wrongType("integer");
    }

    /** Float element i (FLOAT32 or FLOAT64). */
    public double getDouble(int i) {
        return switch (data) {
            case float[] a -> a[i];
            case double[] a -> a[i];
            default -> throw wrongType("float");
        };
    }

    public boolean getBool(int i) {
        if (data instanceof boolean[] a) {
            return a[i];
        }
        throw wrongType("BOOL");
    }

    public String getString(int i) {
        if (data instanceof String[] a) {
            return a[i];
        }
        throw wrongType("STRING");
    }

    public GgufArray getArray(int i) {
        if (data instanceof GgufArray[] a) {
            return a[i];
        }
        throw wrongType("ARRAY");
    }

    /** The strings of a STRING array, unmodifiable. */
    public List<String> strings() {
        if (data instanceof String[] a) {
            return List.of(a);
        }
        throw wrongType("STRING");
    }

    /** The elements of a FLOAT32 array, or of a FLOAT64 array rounded to float. */
    public float[] toFloatArray() {
        return switch (data) {
            case float[] a -> a.clone();
            case double[] a -> {
                float[] f = new float[a.length];
                for (int i = 0; i < a.length; i++) {
                    f[i] = (float) a[i];
                }
                yield f;
            }
            default -> throw wrongType("FLOAT32");
        };
    }

    /** The elements of an integer array whose values all fit in an int. */
    public int[] toIntArray() {
        if (!(data instanceof long[] a)) {
            throw wrongType("INT32");
        }
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            long v = elementType == GgufType.UINT64 && a[i] < 0 ? Long.MAX_VALUE : a[i];
            if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
                throw new IllegalStateException("element " + i + " = " + Long.toUnsignedString(a[i])
                        + " of " + elementType + " array does not fit in an int");
            }
            out[i] = (int) v;
        }
        return out;
    }

    /** The elements of an integer array (UINT64 as raw bits). */
    public long[] toLongArray() {
        if (data instanceof long[] a) {
            return a.clone();
        }
        throw wrongType("integer");
    }

    /** The elements of a BOOL array. */
    public boolean[] toBoolArray() {
        if (data instanceof boolean[] a) {
            return a.clone();
        }
        throw wrongType("BOOL");
    }

    /**
     * Plain Java form: {@code List<String>} for STRING, {@code float[]} for FLOAT32, {@code double[]} for FLOAT64,
     * {@code long[]} for integers, {@code boolean[]} for BOOL, {@code List<Object>} of plain forms for nested arrays.
     */
    public Object toJava() {
        return switch (data) {
            case String[] a -> List.of(a);
            case GgufArray[] a -> Arrays.stream(a).map(GgufArray::toJava).toList();
            case long[] a -> a.clone();
            case float[] a -> a.clone();
            case double[] a -> a.clone();
            case boolean[] a -> a.clone();
            default -> throw new IllegalStateException();
        };
    }

    /** Raw storage for the writer (no copy). */
    Object data() {
        return data;
    }

    private IllegalStateException wrongType(String wanted) {
        return new IllegalStateException("array of " + elementType + " read as " + wanted);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufArray other && elementType == other.elementType
                && Arrays.deepEquals(new Object[] {data}, new Object[] {other.data});
    }

    @Override
    public int hashCode() {
        return 31 * elementType.hashCode() + Arrays.deepHashCode(new Object[] {data});
    }

    @Override
    public String toString() {
        int n = size();
        StringBuilder sb = new StringBuilder(elementType.toString()).append('[').append(n).append("]{");
        for (int i = 0; i < Math.min(n, 8); i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(switch (data) {
                case long[] a -> elementType == GgufType.UINT64 ? Long.toUnsignedString(a[i]) : Long.toString(a[i]);
                case float[] a -> Float.toString(a[i]);
                case double[] a -> Double.toString(a[i]);
                case boolean[] a -> Boolean.toString(a[i]);
                case String[] a -> '"' + a[i] + '"';
                case GgufArray[] a -> a[i].toString();
                default -> "?";
            });
        }
        return sb.append(n > 8 ? ", …}" : "}").toString();
    }
}
