/**
 * Merging adapters trained on one base into one LoRA: {@link dev.jlora.engine.merge.AdapterMerger} combines the
 * modules' updates by a {@link dev.jlora.engine.merge.MergeMethod} (linear, TIES, DARE, DARE-TIES in
 * {@code TaskVectors}; LoRA-LEGO in {@code LoraLego}) and reduces the result to rank r by truncated SVD
 * ({@link dev.jlora.engine.linalg.Svd}). LoRA updates stay factored ({@code LowRankDelta}) wherever the method allows.
 */
package dev.jlora.engine.merge;
