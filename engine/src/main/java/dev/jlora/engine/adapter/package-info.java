/**
 * Adapters on the frozen linear layers. {@link dev.jlora.engine.adapter.LinearAdapter} is the inference view
 * (y += Δ(x)); {@link dev.jlora.engine.adapter.TrainableAdapter} adds named parameters with gradients, a training
 * forward with saved state, backward, merge and save/load — the contract every LoRA-family method implements.
 * {@link dev.jlora.engine.adapter.LoraAdapter} is plain LoRA / rsLoRA; {@link dev.jlora.engine.adapter.AdapterFactory}
 * creates one per (layer, target) and {@link dev.jlora.engine.adapter.TrainableAdapterSet} holds them for a model.
 *
 * <h2>Variants and initialisations</h2>
 * One class per method, each citing its paper: {@code DoraAdapter}, {@code VeraAdapter}, {@code NolaAdapter},
 * {@code LoLduAdapter}, {@code BoneAdapter}, {@code MoraAdapter}, {@code RandLoraAdapter}; rsLoRA is a flag of
 * {@code LoraAdapter}. {@link dev.jlora.engine.adapter.AdapterInit} chooses how LoRA/DoRA factors start
 * ({@code RandomInit}, {@code PissaInit}, {@code OloraInit}); initialisations that move part of W into the adapter
 * return a residual base, which {@link dev.jlora.engine.adapter.AdaptedModel} re-quantizes to the layer's type
 * ({@link dev.jlora.engine.adapter.Requantizer}) and puts into a new {@code LlamaWeights}.
 * {@link dev.jlora.engine.adapter.AdapterMethods} is the registry behind {@code --method}/{@code --init} and the
 * loader of saved adapter files.
 *
 * <h2>Mixtures of LoRA experts</h2>
 * {@code Router} (softmax gate), {@code ExpertSelection} (soft, top-k, hybrid), {@code Routing} (weights and tokens
 * grouped by expert), {@code LoraExperts} (one gathered matmul pair per expert), {@code BalanceLosses} and
 * {@code RoutingStats} are shared by {@code LoraMixture} (LoRAMoE, MoLA, SMoRA, DynMoLE, MeteoRA), the whole-FFN
 * {@code MixLoraAdapter} ({@link dev.jlora.engine.adapter.FfnAdapter}) and X-LoRA ({@code XLoraModel},
 * {@code XLoraAdapter}); their training hooks live in {@code engine.dynamics}. Every variant is tested against a float64 reference by central differences
 * ({@code AdapterCheck} in the tests), merged against unmerged, and through a state round trip.
 */
package dev.jlora.engine.adapter;
