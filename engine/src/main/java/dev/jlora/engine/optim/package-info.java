/**
 * Optimizers over named {@link dev.jlora.engine.adapter.Parameter}s ({@link dev.jlora.engine.optim.AdamW},
 * {@link dev.jlora.engine.optim.SgdMomentum}), learning-rate schedules and global-norm gradient clipping, each in the
 * form of its PyTorch counterpart so results can be compared step by step.
 */
package dev.jlora.engine.optim;
