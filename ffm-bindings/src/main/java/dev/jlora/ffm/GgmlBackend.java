package dev.jlora.ffm;

import dev.jlora.engine.backend.BackendProvider;

/**
 * {@code --backend ggml}: not written yet. Running matmuls through ggml needs a context ({@code ggml_init}), tensors
 * viewing jlora's buffers, {@code ggml_mul_mat} in a graph and {@code ggml_graph_compute} from libggml-cpu; only the
 * type traits are bound so far ({@link GgmlLib}). The provider says so rather than offering a backend.
 */
public final class GgmlBackend {
    private GgmlBackend() {}

    static final String NOT_IMPLEMENTED = "ggml matmul backend not implemented yet (GgmlLib binds only the type "
            + "traits; ggml_mul_mat/ggml_graph_compute are not bound)";

    /** Always unavailable, with the reason. */
    public static final class Provider implements BackendProvider {
        @Override public String name() {
            return "ggml";
        }

        @Override public int preference() {
            return 20;
        }

        @Override public Probe probe() {
            return Probe.unavailable("ggml", NOT_IMPLEMENTED);
        }
    }
}
