package dev.jlora.loaders.gguf;

/**
 * Metadata value types of GGUF ({@code enum gguf_type} in ggml's gguf.h). The ordinal is not the id:
 * use {@link #id()} and {@link #fromId(int)}.
 */
public enum GgufType {
    //        id  bytes (fixed size; -1 = variable)
    UINT8    (0,  1),
    INT8     (1,  1),
    UINT16   (2,  2),
    INT16    (3,  2),
    UINT32   (4,  4),
    INT32    (5,  4),
    FLOAT32  (6,  4),
    BOOL     (7,  1),
    STRING   (8, -1),  // uint64 byte length + UTF-8 bytes, no terminator
    ARRAY    (9, -1),  // uint32 element type + uint64 count + elements
    UINT64   (10, 8),
    INT64    (11, 8),
    FLOAT64  (12, 8);

    private final int id;
    private final int size;

    GgufType(int id, int size) {
        this.id = id;
        this.size = size;
    }

    /** The id stored in the file. */
    public int id() {
        return id;
    }

    /** Bytes of one value, or -1 for STRING and ARRAY. */
    public int size() {
        return size;
    }

    /** True for the eight integer types. */
    public boolean isInteger() {
        return switch (this) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
            default -> false;
        };
    }

    /** True for FLOAT32 and FLOAT64. */
    public boolean isFloat() {
        return this == FLOAT32 || this == FLOAT64;
    }

    /** The type with file id {@code id}, or null. */
    public static GgufType fromId(int id) {
        for (GgufType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return null;
    }
}
