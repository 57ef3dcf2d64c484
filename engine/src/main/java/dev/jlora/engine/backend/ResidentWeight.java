package dev.jlora.engine.backend;

import dev.jlora.quant.QuantMatrix;

/** A frozen weight held by a backend other than Java, whose products run there (all or in part). */
public interface ResidentWeight extends QuantMatrix {
    /** The backend holding it. */
    Backend backend();
}
