/**
 * Hugging Face model directories: {@link dev.jlora.loaders.hf.HfConfig} ({@code config.json} ↔ {@link
 * dev.jlora.engine.model.LlamaConfig}) and {@link dev.jlora.loaders.hf.SentencePieceModelWriter}
 * ({@code tokenizer.model}). Weights are read with {@code safetensors}, tokenizers with {@code tokenizer}.
 */
package dev.jlora.loaders.hf;
