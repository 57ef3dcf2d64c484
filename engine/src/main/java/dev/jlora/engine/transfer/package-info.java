/**
 * Trans-LoRA (Wang et al. 2024): {@link dev.jlora.engine.transfer.TransLora} moves an adapter to another base model
 * through synthetic task inputs written by the source model, filtered by a discriminator LoRA, labelled by the source
 * model with its adapter and distilled into a new LoRA on the target, all with {@code Generator} and {@code Trainer}.
 */
package dev.jlora.engine.transfer;
