package dev.jlora.engine.train;

/**
 * LongLoRA's shifted sparse attention (S²-Attn) pattern: Chen, Qian, Tang, Lai, Liu, Han &amp; Jia 2023, "LongLoRA:
 * Efficient Fine-tuning of Long-Context Large Language Models", §3.2 (Figure 2, Algorithm 1). During fine-tuning the
 * T tokens are split into groups of G and each query attends (causally) only to keys of its own group; in half of the
 * heads the groups are shifted by G/2, so that information flows between neighbouring groups. Inference keeps full
 * attention, so {@link LlamaTrainGraph} uses this pattern in its training forward and backward only.
 *
 * <p>Which heads: as in the reference implementation ({@code llama_attn_replace.py}), the query heads are cut in two
 * halves after the key/value heads are repeated for GQA: heads 0 … H/2−1 use groups [0, G), [G, 2G), …; heads
 * H/2 … H−1 the shifted ones.
 *
 * <p>The wrap-around: Algorithm 1 shifts by rolling the sequence by −G/2 ({@code roll(-G/2)}), so its last group
 * holds the last G/2 tokens followed by the first G/2 — and under the causal mask those first tokens then see the end
 * of the sequence (the leak discussed in the authors' issues #15 and #90). The authors' training path
 * ({@code forward_flashattn}, which replaced the roll) cuts the shifted heads' sequence at G/2, 3G/2, … instead, so
 * the shifted heads have a half group [0, G/2) at the start and [T − G/2, T) at the end and nothing wraps. This class
 * follows that code: a query never sees a later position.
 *
 * <p>{@code shift = false} is the paper's "short attention" baseline (the grouping without the shift); with
 * G = T it is full causal attention.
 *
 * @param groupSize G: tokens per group; even, and a divisor of the sequence length it is used with
 * @param shift     whether the second half of the heads uses the groups shifted by G/2
 */
public record ShiftedSparseAttention(int groupSize, boolean shift) {

    public ShiftedSparseAttention {
        if (groupSize < 2 || groupSize % 2 != 0) {
            throw new IllegalArgumentException("S²-Attn group size must be even and ≥ 2 (the shift is G/2), got "
                    + groupSize);
        }
    }

    /** The pattern of LongLoRA's training: groups of {@code groupSize}, half of the heads shifted by G/2. */
    public static ShiftedSparseAttention of(int groupSize) {
        return new ShiftedSparseAttention(groupSize, true);
    }

    /** Checks that the pattern fits sequences of T tokens and H query heads (names what does not). */
    public void check(int T, int H) {
        if (T % groupSize != 0) {
            throw new IllegalArgumentException("S²-Attn group size " + groupSize + " must divide the sequence length "
                    + T + " (LongLoRA splits each sequence into T/G groups)");
        }
        if (shift && H % 2 != 0) {
            throw new IllegalArgumentException("S²-Attn shifts half of the attention heads: the head count must be "
                    + "even, got " + H);
        }
    }

    /**
     * The first key position query head {@code h} (of H) at position {@code t} attends to; it attends to
     * positions {@code firstKey … t}.
     */
    public int firstKey(int h, int H, int t) {
        if (!shift || h < H / 2) {
            return t - t % groupSize;
        }
        int half = groupSize / 2;
        return t < half ? 0 : t - (t - half) % groupSize;
    }
}
