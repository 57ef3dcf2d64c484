package dev.jlora.quant;

/**
 * The one table of storage formats: block size (elements) and bytes per block, with the ggml type id
 * where ggml has the format. Every other part of jlora reads formats from here.
 */
public enum QuantType {
    //     block  bytes  ggml id  layout (source)
    F32   (  1,     4,     0),  // IEEE binary32
    F16   (  1,     2,     1),  // IEEE binary16
    Q4_0  ( 32,    18,     2),  // fp16 d, 16 bytes of nibbles, q − 8         (ggml-common.h block_q4_0)
    Q4_1  ( 32,    20,     3),  // fp16 d, fp16 m, 16 bytes of nibbles         (block_q4_1)
    Q5_0  ( 32,    22,     6),  // fp16 d, 4 bytes high bits, 16 bytes nibbles (block_q5_0)
    Q5_1  ( 32,    24,     7),  // fp16 d, fp16 m, 4 bytes qh, 16 bytes qs     (block_q5_1)
    Q8_0  ( 32,    34,     8),  // fp16 d, 32 × int8                           (block_q8_0)
    Q4_K  (256,   144,    12),  // fp16 d, dmin, 12 bytes scales, 128 qs       (block_q4_K)
    Q5_K  (256,   176,    13),  // fp16 d, dmin, 12 scales, 32 qh, 128 qs      (block_q5_K)
    Q6_K  (256,   210,    14),  // 128 ql, 64 qh, 16 int8 scales, fp16 d       (block_q6_K)
    Q8_K  (256,   292,    15),  // fp32 d, 256 × int8, 16 × int16 bsums        (block_q8_K)
    BF16  (  1,     2,    30),  // bfloat16
    NF4   ( 64,    32,    -1);  // QLoRA NormalFloat4: 64 nibbles; absmax kept beside the codes (see Nf4)

    private final int blockSize;
    private final int bytesPerBlock;
    private final int ggmlId;

    QuantType(int blockSize, int bytesPerBlock, int ggmlId) {
        this.blockSize = blockSize;
        this.bytesPerBlock = bytesPerBlock;
        this.ggmlId = ggmlId;
    }

    /** Elements per block. */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per block of {@link #blockSize()} elements. */
    public int bytesPerBlock() {
        return bytesPerBlock;
    }

    /** ggml's {@code enum ggml_type} value, or -1 when ggml has no such format. */
    public int ggmlId() {
        return ggmlId;
    }

    /** Bytes of one row of {@code n} elements; n must be a multiple of the block size. */
    public long rowBytes(long n) {
        if (n % blockSize != 0) {
            throw new IllegalArgumentException("type " + this + " needs a row length divisible by " + blockSize + ", got " + n);
        }
        return n / blockSize * bytesPerBlock;
    }

    /** The format with ggml type id {@code id}, or null if jlora does not know it. */
    public static QuantType fromGgmlId(int id) {
        for (QuantType t : values()) {
            if (t.ggmlId == id) {
                return t;
            }
        }
        return null;
    }
}
