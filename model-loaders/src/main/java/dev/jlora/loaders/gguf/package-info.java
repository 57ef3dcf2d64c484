/**
 * GGUF (ggml's {@code docs/gguf.md}): {@link dev.jlora.loaders.gguf.GgufReader} opens and validates a file into a
 * {@link dev.jlora.loaders.gguf.GgufFile} (typed metadata, memory-mapped tensors), {@link
 * dev.jlora.loaders.gguf.GgufWriter} writes one atomically, {@link dev.jlora.loaders.gguf.GgufConfig} maps the
 * {@code ARCH.*} keys to and from {@link dev.jlora.engine.model.LlamaConfig}.
 */
package dev.jlora.loaders.gguf;
