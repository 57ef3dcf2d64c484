/**
 * Serving many adapters over one base model: a {@link dev.jlora.engine.serve.Scheduler} with continuous batching
 * (requests join and leave between decode steps) and an {@link dev.jlora.engine.serve.AdapterRegistry} (LRU cache of
 * adapters loaded from a directory). No HTTP here; the OpenAI-compatible front end is {@code jlora serve} in cli.
 */
package dev.jlora.engine.serve;
