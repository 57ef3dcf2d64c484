/**
 * Training: {@link dev.jlora.engine.train.LlamaTrainGraph} (forward and backward over [B, T] with saved
 * activations, llm.c style), {@link dev.jlora.engine.train.Trainer} (the loop: accumulation, clipping, evaluation,
 * metrics, checkpoints, resume), {@link dev.jlora.engine.train.TrainConfig}, and jlora's own file container
 * {@link dev.jlora.engine.train.TensorArchive} used for checkpoints ({@code .jlck}) and adapters
 * ({@code .jlora}, {@link dev.jlora.engine.train.AdapterFile}).
 */
package dev.jlora.engine.train;
