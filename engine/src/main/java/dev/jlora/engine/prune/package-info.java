/**
 * Structured pruning of Llama decoders shared by LoRAPrune ({@link dev.jlora.engine.dynamics.LoraPrune}: masks found
 * during fine-tuning) and LoRAM ({@link dev.jlora.engine.prune.Loram}: train LoRA on a pruned base, recover it for the
 * full one): {@link dev.jlora.engine.prune.StructuredMask} (head groups and FFN channels per block) and
 * {@link dev.jlora.engine.prune.GroupImportance} (structure importance from element scores).
 */
package dev.jlora.engine.prune;
