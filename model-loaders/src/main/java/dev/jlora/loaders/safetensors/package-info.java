/**
 * safetensors (huggingface/safetensors): {@link dev.jlora.loaders.safetensors.SafetensorsReader} opens a file, a
 * sharded checkpoint's index or a model directory into a {@link dev.jlora.loaders.safetensors.SafetensorsFile}
 * (validated header, memory-mapped tensors); {@link dev.jlora.loaders.safetensors.SafetensorsWriter} writes one.
 */
package dev.jlora.loaders.safetensors;
