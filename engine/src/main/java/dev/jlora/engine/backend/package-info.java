/**
 * Where heavy operations run: {@link dev.jlora.engine.backend.Backend} (fp32 matmul in the three training forms),
 * the default {@link dev.jlora.engine.backend.JavaBackend}, native ones discovered through
 * {@link dev.jlora.engine.backend.BackendProvider} ({@code ffm-bindings}), and {@link dev.jlora.engine.backend.Backends}
 * for {@code --backend auto|java|openblas|ggml|cuda}. See docs/BACKENDS.md.
 */
package dev.jlora.engine.backend;
