/**
 * Files ↔ engine objects. {@link dev.jlora.loaders.ModelLoader} turns a GGUF file or a Hugging Face directory into
 * a {@link dev.jlora.engine.model.LlamaModel}; {@link dev.jlora.loaders.ModelWriter} writes one back as either;
 * {@link dev.jlora.loaders.TensorNames} holds the two naming conventions and llama.cpp's Q/K row permutation;
 * {@link dev.jlora.loaders.QuantPlan} picks formats when quantizing; {@link dev.jlora.loaders.SyntheticModel} makes
 * deterministic random models for benchmarks.
 *
 * <p>Sub-packages: {@code gguf} (GGUF v2/v3 reader, writer, metadata ↔ config), {@code safetensors} (reader for
 * single and sharded checkpoints, writer), {@code hf} (config.json ↔ config, tokenizer.model writer),
 * {@code io} (atomic file writes), {@code tokenizer} (tokenizers from every file format).
 *
 * <p>Every reader treats its file as untrusted input: counts, lengths, offsets and shapes are checked before use and
 * errors are {@link dev.jlora.engine.io.ModelFormatException}s naming the file, the place and the expectation.
 * Every writer is atomic ({@link dev.jlora.loaders.io.AtomicFile}).
 */
package dev.jlora.loaders;
