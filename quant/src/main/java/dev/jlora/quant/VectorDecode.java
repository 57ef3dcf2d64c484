package dev.jlora.quant;

import dev.jlora.simd.VectorOps;

/**
 * Whether the Vector API decoders of {@link PanamaQuant} are used. Decided once: only when the simd provider
 * chose its Panama kernels (module present, C2 on, {@code -Djlora.simd} not {@code scalar}) and the preferred
 * float vector holds 8 or 16 lanes (a block's 16 nibble bytes must split into whole byte vectors).
 * PanamaQuant is touched only after the first check passes, so its species constants never load without the module.
 */
final class VectorDecode {
    static final boolean AVAILABLE = VectorOps.get().name().startsWith("panama") && PanamaQuant.supported();

    static {
        System.getLogger(VectorDecode.class.getName()).log(System.Logger.Level.DEBUG,
                "jlora quant decoders: " + (AVAILABLE ? "panama" : "scalar"));
    }

    private VectorDecode() {}
}
