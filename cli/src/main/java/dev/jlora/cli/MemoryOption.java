package dev.jlora.cli;

import dev.jlora.engine.model.MemoryBudget;
import picocli.CommandLine.Option;

/** {@code --max-memory SIZE}, shared by the commands that load a model (a picocli mixin). */
final class MemoryOption {
    @Option(names = "--max-memory", paramLabel = "SIZE", converter = Converter.class,
            description = "Memory budget for weights, KV cache and adapter cache, e.g. 512M, 8G (default: unlimited); "
                    + "a model that cannot fit fails before loading")
    MemoryBudget budget = MemoryBudget.UNLIMITED;

    static final class Converter implements picocli.CommandLine.ITypeConverter<MemoryBudget> {
        @Override
        public MemoryBudget convert(String value) {
            return MemoryBudget.parse(value);
        }
    }
}
