/**
 * Tokenizers for llama-family models, byte-exact with llama.cpp ({@code llama-vocab.cpp}, {@code unicode.cpp}).
 *
 * <p>Entry point: {@link dev.jlora.loaders.tokenizer.Tokenizers} — {@code fromGguf}, {@code fromHfDirectory},
 * {@code fromSentencePieceModel}, {@code fromLlama2cBin}, {@code fromVocabulary}. Every reader turns its file into
 * a {@link dev.jlora.loaders.tokenizer.Vocabulary} (plain data); the two algorithms run on that:
 * SentencePiece BPE (score-ordered merges, {@code ▁}, byte fallback) and byte-level BPE (regex pre-tokenizer,
 * GPT-2 byte alphabet, rank-ordered merges). Chat formats: {@link dev.jlora.loaders.tokenizer.ChatTemplates}.
 */
package dev.jlora.loaders.tokenizer;
