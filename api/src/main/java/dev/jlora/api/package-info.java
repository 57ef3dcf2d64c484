/**
 * jlora as a library: the public, documented API (everything else in {@code dev.jlora.*} is internal and may change
 * between any two versions).
 *
 * <pre>{@code
 * Model model = Jlora.load(Path.of("model.gguf"), "nf4");            // any GGUF file or Hugging Face directory
 * String text = model.generate("Once upon a time", GenerateOptions.greedy(60)).text();
 * Adapter adapter = model.fineTune().data(Path.of("train.jsonl")).rank(8).steps(100).run(Path.of("run1"));
 * model.withAdapter(adapter).generate("Once upon a time", GenerateOptions.greedy(60), System.out::print);
 * try (Server server = model.serve(Server.Options.defaults().port(8080).adapters(Path.of("adapters")))) { ... }
 * }</pre>
 *
 * <p>Entry points: {@link dev.jlora.api.Jlora} (load a model), {@link dev.jlora.api.Model} (generate, chat, fine-tune,
 * load adapters, serve), {@link dev.jlora.api.FineTune} (training settings and progress callbacks),
 * {@link dev.jlora.api.Adapter} (a trained or loaded adapter: save, export), {@link dev.jlora.api.Server} (the
 * OpenAI-compatible HTTP server in-process). Thread safety: a {@code Model} and its {@code Adapter}s are immutable
 * and may be shared; each {@code generate} call uses its own KV cache.
 *
 * <p>Versioning: this package follows semantic versioning from 1.0.0 on (a change that breaks a caller of
 * {@code dev.jlora.api} raises the major version); during 0.x minor versions may still change it. See
 * docs/EMBEDDING.md for a walk-through whose code is compiled and run by the tests.
 */
package dev.jlora.api;
