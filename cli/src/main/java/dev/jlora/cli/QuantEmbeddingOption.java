package dev.jlora.cli;

import picocli.CommandLine.Option;

/** {@code --quant-embeddings}, shared by the commands that take {@code --quant} (a picocli mixin). */
final class QuantEmbeddingOption {
    @Option(names = "--quant-embeddings",
            description = "Also quantize the token embedding to the --quant type (each lookup dequantizes one row); "
                    + "by default it keeps its stored format, like the norms")
    boolean enabled;
}
