/**
 * Inference: the Llama-family decoder forward with an fp32 KV cache ({@link dev.jlora.engine.infer.InferenceSession}),
 * sampling ({@link dev.jlora.engine.infer.Sampler}) and the generation loop
 * ({@link dev.jlora.engine.infer.Generator}).
 *
 * <p>Shapes follow {@code dev.jlora.engine}: {@code T} tokens in a batch, {@code C} model width, {@code H}/{@code KVH}
 * query/key-value heads, {@code hs} head size, {@code V} vocabulary. Activations are row-major {@code [T × C]}.
 */
package dev.jlora.engine.infer;
