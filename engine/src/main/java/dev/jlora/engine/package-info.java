/**
 * Tensors, the Llama-family model graph, forward and backward, the LoRA family, optimizers, training,
 * generation and serving. Knows no file formats, no command line and no native library.
 *
 * <h2>Shape names (one convention across the tree, as in llm.c)</h2>
 * <ul>
 *   <li>{@code B}: batch (sequences), {@code T}: tokens per sequence, {@code C}: model width (dim),
 *       {@code V}: vocabulary, {@code H}/{@code KVH}: query/key-value heads, {@code hs}: head size,
 *       {@code r}: LoRA rank, {@code OC}/{@code IC}: output/input features of a linear layer.</li>
 *   <li>Activations are row-major {@code [B·T, C]} {@code float[]}; linear weights are {@code [OC, IC]}
 *       (Hugging Face orientation), applied as {@code y = x·Wᵀ}.</li>
 *   <li>Gradients carry a {@code d} prefix and the same name as the value: {@code x} / {@code dx}.</li>
 * </ul>
 */
package dev.jlora.engine;
