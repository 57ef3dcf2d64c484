package dev.jlora.engine.model;

import dev.jlora.engine.tokenizer.Tokenizer;

/** A loaded model: its shape, frozen weights and tokenizer. What loaders produce and the engine runs. */
public record LlamaModel(LlamaConfig config, LlamaWeights weights, Tokenizer tokenizer) {}
