/**
 * Adapters on the frozen linear layers. {@link dev.jlora.engine.adapter.LinearAdapter} is the inference view
 * (y += Δ(x)); {@link dev.jlora.engine.adapter.TrainableAdapter} adds named parameters with gradients, a training
 * forward with saved state, backward, merge and save/load — the contract every LoRA-family method implements.
 * {@link dev.jlora.engine.adapter.LoraAdapter} is plain LoRA / rsLoRA; {@link dev.jlora.engine.adapter.AdapterFactory}
 * creates one per (layer, target) and {@link dev.jlora.engine.adapter.TrainableAdapterSet} holds them for a model.
 */
package dev.jlora.engine.adapter;
