package dev.jlora.simd;

/**
 * Which channels of a head a rotary embedding (Su et al. 2021, RoFormer §3.4) rotates together.
 *
 * <p>Both layouts compute the same function up to a fixed permutation of the head's channels, which is why
 * llama.cpp's converter permutes the Q/K weights of Hugging Face checkpoints when it writes GGUF.
 */
public enum RopeLayout {
    /** Pairs {@code (2i, 2i+1)}: llama.cpp/GGUF architecture "llama" ({@code LLAMA_ROPE_TYPE_NORM}), Meta's original code. */
    INTERLEAVED,
    /** Pairs {@code (i, i + hs/2)}: Hugging Face {@code rotate_half}, GPT-NeoX ({@code LLAMA_ROPE_TYPE_NEOX}). */
    HALF_SPLIT
}
