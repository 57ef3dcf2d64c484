/**
 * Training data: JSONL in three shapes ({@link dev.jlora.engine.data.JsonlDataset}), tokenised into
 * {@link dev.jlora.engine.data.Example}s with loss masks, packed into rows of T + 1 tokens
 * ({@link dev.jlora.engine.data.SequencePacker}), split into train/eval ({@link dev.jlora.engine.data.Dataset}) and
 * drawn in seeded, resumable order ({@link dev.jlora.engine.data.BatchSampler}).
 */
package dev.jlora.engine.data;
