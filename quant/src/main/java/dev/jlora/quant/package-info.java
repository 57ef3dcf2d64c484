/**
 * Block formats, the format table and fused dequantize + matmul.
 *
 * <ul>
 *   <li>{@link dev.jlora.quant.QuantType} is the table: block size, bytes per block, ggml id, and the only place
 *       callers go from a format to its code: {@code type.format()} (a {@link dev.jlora.quant.BlockFormat}:
 *       {@code dequantizeRow}, {@code quantizeRowRef}, {@code dot}), {@code type.wrap(segment, rows, cols)} (stored
 *       blocks read in place) and {@code type.quantize(float[], rows, cols)} / {@code type.quantize(QuantMatrix)}.</li>
 *   <li>One class per ggml format ({@link dev.jlora.quant.Q4_0}, {@link dev.jlora.quant.Q4_K}, …), ported from
 *       {@code ggml/src/ggml-quants.c} of ggml v0.5.0: dequantization is bit-exact and the reference quantizers are
 *       byte-identical with ggml (ffm-bindings' {@code GgmlLibTest} checks both against libggml-base).</li>
 *   <li>{@link dev.jlora.quant.Nf4} and {@link dev.jlora.quant.Nf4Matrix}: QLoRA's NormalFloat4 with double
 *       quantization (Dettmers et al. 2023).</li>
 *   <li>Kernels: every matrix decodes rows or block-aligned column slices and multiplies them without building
 *       the fp32 weight ({@code FusedMatrix}); {@code PanamaQuant} holds the Vector API decoders and dots and is
 *       the only class here that imports {@code jdk.incubator.vector}. Each kernel has a scalar {@code Ref} twin.</li>
 * </ul>
 */
package dev.jlora.quant;
