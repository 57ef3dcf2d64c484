package dev.jlora.cli;

import dev.jlora.engine.infer.KvCacheType;
import picocli.CommandLine.Option;

/** {@code --kv-type}, shared by the commands that keep a KV cache (a picocli mixin). */
final class KvTypeOption {
    @Option(names = "--kv-type", paramLabel = "TYPE", defaultValue = "f32",
            description = "How the KV cache stores keys and values: f32, or f16 for half the memory "
                    + "(llama.cpp's default; values rounded to 11 significant bits) (default: ${DEFAULT-VALUE})")
    String name;

    KvCacheType type() {
        return KvCacheType.parse(name);
    }
}
